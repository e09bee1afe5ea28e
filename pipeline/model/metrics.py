"""Ranking metrics over whole matrices of recommendations and held-out items.

Per user with at least one held-out item, then averaged over those users
(``relevant`` is 0/1, ``hits`` marks the recommended positions that are relevant):

    precision@k  hits in the top k / k
    recall@k     hits / number of held-out items
    ndcg@k       DCG / ideal DCG, binary gains, 1/log2(rank + 1) discounts, ideal over min(held-out, k)
    map@k        sum of precision@i over the hit positions i / min(held-out, k)
    hit_rate@k   1 when there is at least one hit
    mrr@k        1 / rank of the first hit, 0 when none

Over all lists: ``coverage@k`` is the share of the catalogue recommended to at
least one user; ``popularity_rank@k`` the mean training-popularity rank of the
recommended items as a share of the catalogue (0 = the most popular item,
higher = less popularity bias). Every metric is computed with numpy over whole
matrices, never per user in Python: 100k users take about a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from pipeline.errors import PipelineError
from pipeline.precompute import recommend

RANKING = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr")


class EvaluationError(PipelineError):
    """The holdout or the lists to score cannot give a meaningful measurement."""


def hit_matrix(recommended: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """Boolean (n_users, n_columns): is ``recommended[u, j]`` among the relevant items of user u."""
    relevant = relevant.tocsr()
    relevant.sort_indices()
    n_items = np.int64(relevant.shape[1])
    rows = np.repeat(np.arange(relevant.shape[0], dtype=np.int64), np.diff(relevant.indptr))
    wanted = rows * n_items + relevant.indices  # sorted: rows ascending, columns sorted within
    if len(wanted) == 0:
        return np.zeros(recommended.shape, dtype=bool)
    codes = np.arange(len(recommended), dtype=np.int64)[:, None] * n_items + recommended
    at = np.minimum(np.searchsorted(wanted, codes), len(wanted) - 1)
    return (recommended >= 0) & (wanted[at] == codes)


def per_user_metrics(
    recommended: np.ndarray, relevant: sp.csr_matrix, k: int | Sequence[int]
) -> dict[str, np.ndarray]:
    """Each ranking metric at each k for every row; NaN for rows without held-out items."""
    if recommended.shape[0] != relevant.shape[0]:
        raise EvaluationError(
            f"recommended has {recommended.shape[0]} rows but relevant has {relevant.shape[0]}: "
            "they must hold one row per user, in the same order"
        )
    ks = [int(k)] if isinstance(k, int | np.integer) else [int(each) for each in k]
    relevant = relevant.tocsr().copy()
    relevant.data[:] = 1
    relevant.eliminate_zeros()
    n_relevant = np.diff(relevant.indptr)
    all_hits = hit_matrix(recommended[:, : max(ks)], relevant).astype(np.float64)
    out: dict[str, np.ndarray] = {}
    for each in ks:
        out |= _metrics_at(all_hits[:, :each], n_relevant, each)
    return out


def _metrics_at(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    ideal = np.minimum(n_relevant, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        idcg = np.concatenate([[0.0], np.cumsum(discounts)])[ideal]
        precision_at_i = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
        first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1.0, np.inf)
        values = {
            "precision": hits.sum(axis=1) / k,
            "recall": hits.sum(axis=1) / n_relevant,
            "ndcg": (hits * discounts[: hits.shape[1]]).sum(axis=1) / idcg,
            "map": (precision_at_i * hits).sum(axis=1) / ideal,
            "hit_rate": hits.any(axis=1).astype(np.float64),
            "mrr": 1.0 / first,
        }
    no_test = n_relevant == 0
    return {f"{name}@{k}": np.where(no_test, np.nan, v) for name, v in values.items()}


def ranking_metrics(
    recommended: np.ndarray, relevant: sp.csr_matrix, k: int | Sequence[int]
) -> dict[str, float]:
    """Mean of each ranking metric over the rows with held-out items, at one k or several."""
    return summarise(per_user_metrics(recommended, relevant, k))


def summarise(per_user: dict[str, np.ndarray], rows: np.ndarray | None = None) -> dict[str, float]:
    """Means over the rows (all, or a boolean mask) that have held-out items; ``users`` counts them."""
    first = next(iter(per_user.values()))
    mask = ~np.isnan(first) if rows is None else (~np.isnan(first) & rows)
    if not mask.any():
        raise EvaluationError("no user has held-out items: the holdout (or this slice of it) is empty")
    return {name: float(v[mask].mean()) for name, v in per_user.items()} | {"users": int(mask.sum())}


def ci95(values: np.ndarray) -> float:
    """Half-width of the normal 95% confidence interval of the mean of ``values`` (NaN rows, users
    without held-out items, left out): 1.96 standard errors; 0 for fewer than two values."""
    shown = values[~np.isnan(values)]
    if len(shown) < 2:
        return 0.0
    return float(1.96 * shown.std(ddof=1) / np.sqrt(len(shown)))


def coverage(recommended: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    return float(len(np.unique(recommended[recommended >= 0])) / max(n_items, 1))


def popularity_ranks(user_items: sp.csr_matrix) -> np.ndarray:
    """Each item's rank by number of training users, 0 = most popular (ties by index)."""
    order = np.argsort(-recommend.item_popularity(user_items), kind="stable")
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order))
    return ranks


def popularity_rank(recommended: np.ndarray, ranks: np.ndarray) -> float:
    """Mean popularity rank of the recommended items as a share of the catalogue (0 = most popular)."""
    shown = recommended[recommended >= 0]
    return float(ranks[shown].mean() / max(len(ranks) - 1, 1)) if len(shown) else float("nan")


def popularity_curve(
    lists: dict[str, np.ndarray], user_items: sp.csr_matrix, bins: int = 20
) -> dict[str, list[float]]:
    """Share of training interactions and of each model's recommendations per popularity bucket.

    Items are ordered from most to least popular and cut into ``bins`` buckets of equal item
    counts; a flat recommended curve means no popularity bias, a curve above the
    interactions at the left means the model over-recommends the head.
    """
    ranks = popularity_ranks(user_items)
    bucket = np.minimum(ranks * bins // max(len(ranks), 1), bins - 1)
    interacted = np.bincount(bucket[user_items.indices], minlength=bins).astype(np.float64)
    curve = {"bucket": [float(b) for b in (np.arange(bins) + 0.5) / bins]}
    curve["interactions"] = (interacted / max(interacted.sum(), 1)).tolist()
    for name, ids in lists.items():
        shown = np.bincount(bucket[ids[ids >= 0]], minlength=bins).astype(np.float64)
        curve[name] = (shown / max(shown.sum(), 1)).tolist()
    return curve
