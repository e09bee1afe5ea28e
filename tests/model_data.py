"""Small real datasets for the model tests (evaluate, tune, train, artifact, report, gate)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import interactions, synthetic
from pipeline.interactions import Interactions

# dense enough that ALS beats most-popular, and a 1-factor, 1-iteration ALS does not
TINY = synthetic.SyntheticSpec(
    events=20_000, users=400, items=200, days=10, clusters=8, taste=0.9, popularity_exponent=0.8
)
WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}


def synthetic_interactions(spec: synthetic.SyntheticSpec = TINY) -> Interactions:
    """``spec``'s events summed into a (user, item, weight) matrix, as interactions.to_matrix builds it."""
    cols = synthetic.generate_arrays(spec)
    weight = np.array([WEIGHTS[t] for t in synthetic.EVENT_TYPES])[cols["event"]]
    frame = pd.DataFrame(
        {
            "user_id": np.char.add("u", cols["user"].astype(str)),
            "item_id": np.char.add("i", cols["item"].astype(str)),
        }
    ).assign(weight=weight)
    frame = frame.groupby(["user_id", "item_id"], as_index=False)["weight"].sum()
    return interactions.to_matrix(frame)


def pairs(matrix) -> set[tuple[int, int]]:
    """The (row, column) pairs of a sparse matrix's stored non-zero entries."""
    coo = matrix.tocoo()
    keep = coo.data != 0
    return set(zip(coo.row[keep].tolist(), coo.col[keep].tolist(), strict=True))
