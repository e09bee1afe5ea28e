"""Churn: how much a candidate's lists differ from the served version's, for the same users.

The served version's lists are recomputed from its artifact (the factors that produced what was
published), for a seeded sample of the users both versions know, over the items both know, with
today's seen items filtered out of both: ``overlap@k`` is the mean share of a user's k items that
the two lists share. How much the data moved since the served version was fitted comes from the
two data fingerprints (``Interactions.fingerprint``: ``users x items : interactions : hash``).

Why: the refit comparison of the gate fits the served version's *parameters* on today's data, so
with unchanged parameters it is the candidate itself, and it cannot see a data bug (ids shuffled,
a join gone wrong) that keeps the metric and changes every list. Churn can.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict

from pipeline.data.interactions import Interactions
from pipeline.errors import PipelineError

if TYPE_CHECKING:  # the artifact's meta holds the gate's decision, which holds a Churn
    from pipeline.model.artifact import Artifact


class ChurnError(PipelineError):
    """Churn cannot be measured on these inputs."""


class Churn(BaseModel):
    """The candidate's lists against the served version's, for the same users."""

    model_config = ConfigDict(frozen=True)

    overlap: float  # mean |served top k ∩ candidate top k| / k over the sampled users
    users: int  # users compared
    k: int
    data_change: float  # largest relative change of users, items or interactions since the served fit


def overlap_at_k(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Mean over rows of the share of ``a``'s first k ids (>= 0) that are among ``b``'s first k."""
    if a.shape[0] != b.shape[0] or a.shape[0] == 0:
        raise ChurnError(
            f"overlap@k needs the same users in both lists, got {a.shape[0]} and {b.shape[0]} rows"
        )
    a, b = a[:, :k], b[:, :k]
    shared = [len(np.intersect1d(x[x >= 0], y[y >= 0])) for x, y in zip(a, b, strict=True)]
    return float(np.mean(shared) / k)


def top_k(user_factors: np.ndarray, item_factors: np.ndarray, exclude: sp.csr_matrix, k: int) -> np.ndarray:
    """Each row's k best columns by dot product, excluded (and NaN-scored) columns left out."""
    scores = np.asarray(user_factors @ item_factors.T, dtype=np.float64)
    scores[np.isnan(scores)] = -np.inf
    rows, cols = exclude.nonzero()
    scores[rows, cols] = -np.inf
    k = min(k, scores.shape[1])
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1, kind="stable")
    ids = np.take_along_axis(best, order, axis=1)
    return np.where(np.take_along_axis(scores, ids, axis=1) == -np.inf, -1, ids)


def positions(ids: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    """Positions of ``ids`` in ``sorted_ids``; -1 where absent."""
    pos = np.searchsorted(sorted_ids, ids)
    found = (pos < len(sorted_ids)) & (sorted_ids[np.minimum(pos, len(sorted_ids) - 1)] == ids)
    return np.where(found, pos, -1)


def data_change(served_fingerprint: str, fingerprint: str) -> float:
    """The largest relative change of users, items or interactions between two fingerprints."""

    def sizes(text: str) -> tuple[int, int, int]:
        shape, nnz, _ = text.split(":")
        users, items = shape.split("x")
        return int(users), int(items), int(nnz)

    try:
        before, now = sizes(served_fingerprint), sizes(fingerprint)
    except ValueError:
        raise ChurnError(
            "data fingerprints must read 'USERSxITEMS:NNZ:HASH', "
            f"got {served_fingerprint!r} and {fingerprint!r}"
        ) from None
    return max(abs(n - b) / max(b, 1) for b, n in zip(before, now, strict=True))


def churn(
    served_factors: tuple[np.ndarray, np.ndarray],
    served_ids: tuple[np.ndarray, np.ndarray],
    served_fingerprint: str,
    candidate_factors: tuple[np.ndarray, np.ndarray],
    data: Interactions,
    k: int,
    sample: int = 2000,
    seed: int = 0,
) -> Churn:
    """Overlap@k of the served version's and the candidate's lists for up to ``sample`` users both
    know, over the items both know; the candidate's factors index ``data``'s users and items."""
    served_users, served_items = served_ids
    in_served = positions(data.user_ids, served_users)
    both = np.flatnonzero(in_served >= 0)
    if len(both) == 0:
        raise ChurnError("the served version and the candidate have no user in common")
    rows = np.sort(np.random.default_rng(seed).choice(both, min(sample, len(both)), replace=False))
    item_in_served = positions(data.item_ids, served_items)
    shared_items = np.flatnonzero(item_in_served >= 0)
    exclude = data.user_items[rows][:, shared_items]
    served_lists = top_k(
        served_factors[0][in_served[rows]], served_factors[1][item_in_served[shared_items]], exclude, k
    )
    candidate_lists = top_k(candidate_factors[0][rows], candidate_factors[1][shared_items], exclude, k)
    return Churn(
        overlap=overlap_at_k(served_lists, candidate_lists, k),
        users=len(rows),
        k=k,
        data_change=data_change(served_fingerprint, data.fingerprint()),
    )


def against_served(served: Artifact, model, data: Interactions, k: int, sample: int = 2000) -> Churn:
    """Churn of ``model`` (fitted on ``data``) against the served version's artifact."""
    return churn(
        (served.model.user_factors, served.model.item_factors),
        (served.user_ids, served.item_ids),
        served.meta.data_fingerprint,
        (model.user_factors, model.item_factors),
        data,
        k,
        sample,
    )
