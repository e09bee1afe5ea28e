"""Confidence scaling: how interaction weights become ALS confidences before a fit.

implicit's ALS takes confidence ``1 + alpha * r`` for an entry ``r`` of the matrix it is given;
the scaling chooses ``r`` from the interaction weight ``w``:

``linear``  ``r = w`` (implicit's own behaviour)
``log``     ``r = log(1 + w)``: repeated interactions count, but less and less
``bm25``    BM25 weighting with users as documents and items as terms (implicit's
            ``bm25_weight`` on the user x item matrix, K1 = 100, B = 0.8): a user's weights are
            normalised by how much that user does, and items most users touch count for less;
            an entry never falls below ``BM25_FLOOR``, so no interaction is lost

The scaling is one of the searched parameters (``ALSParams.scaling``); training applies the
same one to the full data, so what was searched is what is served.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight

Scaling = Literal["linear", "log", "bm25"]
SCALINGS: tuple[Scaling, ...] = ("linear", "log", "bm25")
BM25_FLOOR = 1e-3  # idf is negative for an item every user touched


def scaled(user_items: sp.csr_matrix, scaling: Scaling) -> sp.csr_matrix:
    """``user_items`` with its weights scaled; the same sparsity pattern (entries <= 0 dropped)."""
    if scaling == "linear":
        return user_items
    if scaling == "log":
        out = user_items.copy()
        out.data = np.log1p(np.maximum(out.data, 0)).astype(np.float32)
    elif scaling == "bm25":
        out = sp.csr_matrix(bm25_weight(user_items, K1=100, B=0.8), dtype=np.float32)
        out.data = np.maximum(out.data, BM25_FLOOR)
    else:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    out.data = np.maximum(out.data, 0)
    out.eliminate_zeros()
    return out
