"""Evaluate: ranking metrics on a time-based holdout, a popularity baseline, the quality gate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from pipeline.interactions import Interactions


@dataclass(frozen=True)
class Holdout:
    """Training interactions before a cutoff and the new (user, item) pairs after it."""

    train: Interactions
    test: sp.csr_matrix  # same shape and ids as train; 1 where the user took up a new item

    @property
    def test_users(self) -> np.ndarray:
        return np.flatnonzero(np.diff(self.test.indptr))


def make_holdout(train: Interactions, later: Interactions) -> Holdout:
    """Pairs of ``later`` whose user and item are known in ``train`` and that are new to the user."""
    test = to_same_index(later, train)
    seen = train.user_items.copy()
    seen.data[:] = 1
    test.data[:] = 1
    test = (test - test.multiply(seen)).tocsr()
    test.eliminate_zeros()
    return Holdout(train, test)


def to_same_index(data: Interactions, like: Interactions) -> sp.csr_matrix:
    """``data``'s matrix re-indexed to ``like``'s users and items (unknown ids dropped)."""
    rows = np.searchsorted(like.user_ids, data.user_ids)
    rows_ok = (rows < len(like.user_ids)) & (
        like.user_ids[np.minimum(rows, len(like.user_ids) - 1)] == data.user_ids
    )
    cols = np.searchsorted(like.item_ids, data.item_ids)
    cols_ok = (cols < len(like.item_ids)) & (
        like.item_ids[np.minimum(cols, len(like.item_ids) - 1)] == data.item_ids
    )
    coo = data.user_items.tocoo()
    keep = rows_ok[coo.row] & cols_ok[coo.col]
    return sp.csr_matrix((coo.data[keep], (rows[coo.row[keep]], cols[coo.col[keep]])), shape=like.shape)


def ranking_metrics(recommended: np.ndarray, relevant: sp.csr_matrix, k: int) -> dict[str, float]:
    """Mean precision, recall, NDCG, MAP, hit rate and MRR at k over the rows of ``recommended``.

    ``recommended`` is (n_users, >=k) item indices (-1 = none) and ``relevant`` the
    matching (n_users, n_items) 0/1 matrix of held-out items.
    """
    recommended = recommended[:, :k]
    n_relevant = np.diff(relevant.indptr)
    has_test = n_relevant > 0
    recommended, relevant, n_relevant = recommended[has_test], relevant[has_test], n_relevant[has_test]
    if len(recommended) == 0:
        raise ValueError("no user has held-out items: the holdout is empty")
    n_items = relevant.shape[1]
    rows = np.arange(len(recommended))[:, None]
    rec_codes = np.where(recommended >= 0, rows * n_items + recommended, -1)
    coo = relevant.tocoo()
    hits = np.isin(rec_codes, coo.row.astype(np.int64) * n_items + coo.col)
    ideal = np.minimum(n_relevant, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discounts[: hits.shape[1]]).sum(axis=1)
    idcg = np.cumsum(discounts)[ideal - 1]
    precision_at_i = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.inf)
    return {
        f"precision@{k}": float((hits.sum(axis=1) / k).mean()),
        f"recall@{k}": float((hits.sum(axis=1) / ideal).mean()),
        f"ndcg@{k}": float((dcg / idcg).mean()),
        f"map@{k}": float(((precision_at_i * hits).sum(axis=1) / ideal).mean()),
        f"hit_rate@{k}": float(hits.any(axis=1).mean()),
        f"mrr@{k}": float((1.0 / first_hit).mean()),
        "users": int(len(recommended)),
    }


def coverage(recommended: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    return float(len(np.unique(recommended[recommended >= 0])) / max(n_items, 1))


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reason: str


def quality_gate(
    model: dict[str, float], baseline: dict[str, float], k: int, min_lift: float
) -> GateDecision:
    """Publish only a model whose NDCG@k beats the popularity baseline by ``min_lift`` (relative)."""
    key = f"ndcg@{k}"
    needed = baseline[key] * (1 + min_lift)
    if model[key] > needed:
        return GateDecision(
            True, f"{key} {model[key]:.4f} > popular {baseline[key]:.4f} x {1 + min_lift:.2f}"
        )
    return GateDecision(
        False,
        f"{key} {model[key]:.4f} does not beat the popularity baseline {baseline[key]:.4f} "
        f"by the required {min_lift:.0%}",
    )
