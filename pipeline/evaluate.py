"""Evaluate: holdout splits, slices, baselines and the quality gate.

The ranking metrics themselves (and their definitions) are in ``pipeline.metrics``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.nearest_neighbours import CosineRecommender
from implicit.utils import ParameterWarning

from pipeline import interactions, recommend, train
from pipeline.interactions import Interactions
from pipeline.metrics import (  # noqa: F401  (re-exported: evaluation's public names)
    RANKING,
    EvaluationError,
    coverage,
    hit_matrix,
    per_user_metrics,
    popularity_curve,
    popularity_rank,
    popularity_ranks,
    ranking_metrics,
    summarise,
)
from pipeline.settings import ALSParams

SPLITS = ("time", "random-per-user")


@dataclass(frozen=True)
class Holdout:
    """Training interactions and the held-out (user, item) pairs to predict."""

    train: Interactions
    test: sp.csr_matrix  # same shape and ids as train; 1 where the user took up a held-out item

    @property
    def test_users(self) -> np.ndarray:
        return np.flatnonzero(np.diff(self.test.indptr))


# --- splits -------------------------------------------------------------------------------------


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


def split_per_user(data: Interactions, test_fraction: float, seed: int, min_train: int = 1) -> Holdout:
    """Hold out a random ``test_fraction`` of each user's items, the same ones for the same seed.

    A user with more than ``min_train`` items holds out ``max(1, round(fraction x items))`` of
    them, never leaving fewer than ``min_train`` to train on; lighter users keep everything.
    """
    if not 0 < test_fraction < 1:
        raise EvaluationError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
    m = data.user_items.tocsr()
    m.sort_indices()
    counts = np.diff(m.indptr)
    n_test = np.clip(np.rint(counts * test_fraction), 1, None).astype(np.int64)
    n_test = np.where(counts > min_train, np.minimum(n_test, counts - min_train), 0)
    rows = np.repeat(np.arange(m.shape[0]), counts)
    order = np.lexsort((np.random.default_rng(seed).random(m.nnz), rows))
    rank_in_row = np.empty(m.nnz, dtype=np.int64)
    rank_in_row[order] = np.arange(m.nnz) - m.indptr[rows[order]]
    held = rank_in_row < n_test[rows]
    train = sp.csr_matrix((np.where(held, 0, m.data), m.indices.copy(), m.indptr.copy()), shape=m.shape)
    test = sp.csr_matrix((held.astype(np.float32), m.indices.copy(), m.indptr.copy()), shape=m.shape)
    train.eliminate_zeros()
    test.eliminate_zeros()
    return Holdout(Interactions(train, data.user_ids, data.item_ids), test)


def load_holdout(
    con: duckdb.DuckDBPyConnection,
    rules: interactions.InteractionRules,
    split: str,
    holdout_days: int,
    test_fraction: float,
    seed: int,
) -> Holdout:
    """The warehouse's interactions split by time (the last ``holdout_days``) or at random per user
    (``test_fraction`` of each user's items, the same for the same ``seed``)."""
    if split not in SPLITS:
        raise EvaluationError(f"split must be one of {SPLITS}, got {split!r}")
    train, later = interactions.split_matrices(con, rules, split, holdout_days, test_fraction, seed)
    return make_holdout(train, later)


# --- slices -------------------------------------------------------------------------------------


def user_slices(
    user_items: sp.csr_matrix,
    users: np.ndarray,
    attributes: pd.Series | None = None,
    cold_max: int = 3,
    heavy_quantile: float = 0.9,
    top_values: int = 5,
) -> dict[str, np.ndarray]:
    """Boolean masks over ``users``: cold (at most ``cold_max`` training items), heavy (the top
    ``1 - heavy_quantile`` by training items) and one per frequent value of a user attribute.

    ``attributes`` is indexed by user row (matrix row), e.g. ``interactions.user_segments``.
    """
    activity = np.diff(user_items.indptr)
    heavy_from = np.quantile(activity, heavy_quantile) if len(activity) else 0
    slices = {
        f"cold (<= {cold_max} items)": activity[users] <= cold_max,
        f"heavy (>= {heavy_from:.0f} items)": activity[users] >= max(heavy_from, cold_max + 1),
    }
    if attributes is not None and len(attributes):
        values = attributes.reindex(users).to_numpy()
        name = attributes.name or "attribute"
        for value in attributes.reindex(users).value_counts().index[:top_values]:
            slices[f"{name}={value}"] = values == value
    return slices


def long_tail(relevant: sp.csr_matrix, user_items: sp.csr_matrix, head_share: float = 0.5) -> sp.csr_matrix:
    """``relevant`` keeping only long-tail items: those outside the most popular items that
    together hold ``head_share`` of the training interactions."""
    popularity = recommend.item_popularity(user_items)
    order = np.argsort(-popularity, kind="stable")
    cumulative = np.cumsum(popularity[order]) / max(popularity.sum(), 1)
    head = order[: int(np.searchsorted(cumulative, head_share)) + 1]
    keep = np.ones(relevant.shape[1], dtype=bool)
    keep[head] = False
    tail = relevant.tocsr() @ sp.diags(keep.astype(np.float32))
    tail = sp.csr_matrix(tail)
    tail.eliminate_zeros()
    return tail


# --- one measurement of several lists ------------------------------------------------------------


@dataclass
class Evaluation:
    """Metrics of a model and its baselines on one holdout: overall, per slice, popularity curve."""

    k: int
    ks: list[int]
    overall: dict[str, dict[str, float]]  # list name -> metric -> value
    slices: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # slice -> name -> ..
    curve: dict[str, list[float]] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        return f"ndcg@{self.k}"

    def as_dict(self) -> dict:
        return asdict(self)


def measure(
    lists: dict[str, np.ndarray],
    holdout: Holdout,
    users: np.ndarray,
    k: int,
    ks: Sequence[int] = (),
    attributes: pd.Series | None = None,
) -> Evaluation:
    """Score each named set of lists (rows = ``users``, best first) against the holdout.

    Every list is scored on the same users and the same held-out items, overall and per slice
    (cold users, heavy users, long-tail items, each frequent attribute value).
    """
    ks = sorted({k, *ks})
    relevant = holdout.test[users]
    train = holdout.train.user_items
    ranks = popularity_ranks(train)
    tail = long_tail(relevant, train)
    slices = user_slices(train, users, attributes)
    overall, by_slice = {}, {}
    for name, ids in lists.items():
        per_user = per_user_metrics(ids, relevant, ks)
        tail_per_user = per_user_metrics(ids, tail, ks)
        catalogue = {f"coverage@{each}": coverage(ids[:, :each], train.shape[1]) for each in ks}
        catalogue |= {f"popularity_rank@{each}": popularity_rank(ids[:, :each], ranks) for each in ks}
        catalogue |= {
            "coverage": catalogue[f"coverage@{k}"],
            "popularity_rank": catalogue[f"popularity_rank@{k}"],
        }
        overall[name] = summarise(per_user) | catalogue
        for slice_name, mask in slices.items():
            if (mask & ~np.isnan(per_user[f"ndcg@{k}"])).any():
                by_slice.setdefault(slice_name, {})[name] = summarise(per_user, mask)
        if (~np.isnan(tail_per_user[f"ndcg@{k}"])).any():
            by_slice.setdefault("long-tail items", {})[name] = summarise(tail_per_user)
    curve = popularity_curve({name: ids[:, :k] for name, ids in lists.items()}, train)
    return Evaluation(k, ks, overall, by_slice, curve)


def baseline_lists(
    holdout: Holdout, users: np.ndarray, k: int, item_knn: bool = True
) -> dict[str, np.ndarray]:
    """The baselines' lists for ``users``: most-popular and (optionally) item-item cosine neighbours."""
    train = holdout.train.user_items
    lists = {"popular": recommend.popular_top_k(train, k, users).ids}
    if item_knn:
        knn = CosineRecommender(K=100)
        with warnings.catch_warnings():  # implicit converts its own intermediate matrix to CSR and warns
            warnings.filterwarnings("ignore", category=ParameterWarning)
            knn.fit(train, show_progress=False)
        lists["item_knn"] = recommend.top_k_for_users(knn, train, k, users).ids
    return lists


def model_lists(model, holdout: Holdout, users: np.ndarray, k: int) -> np.ndarray:
    """A fitted model's top k for ``users``, excluding their training items."""
    return recommend.top_k_for_users(model, holdout.train.user_items, k, users).ids


def evaluate_candidate(
    model,
    holdout: Holdout,
    k: int,
    ks: Sequence[int] = (),
    attributes: pd.Series | None = None,
    published_params: ALSParams | None = None,
    use_gpu: bool | None = None,
) -> Evaluation:
    """The candidate (fitted on ``holdout.train``) against the baselines and, when given, the
    published version, all on the same holdout users and items.

    The published version is measured by refitting its parameters on this holdout's training
    part: its own factors were trained on data that may include these held-out events, and
    scoring them here would reward it for remembering the answers.
    """
    users = holdout.test_users
    if len(users) == 0:
        raise EvaluationError("the holdout has no user with a held-out item that is new to them")
    width = max(k, *ks) if ks else k
    lists = {"model": model_lists(model, holdout, users, width)} | baseline_lists(holdout, users, width)
    if published_params is not None:
        refitted = train.fit(holdout.train, published_params, use_gpu)
        lists["published"] = model_lists(refitted, holdout, users, width)
    return measure(lists, holdout, users, k, ks, attributes)


def as_summary(evaluation: Evaluation, params: dict) -> dict:
    """The one-object summary ``recs evaluate --json`` ends with: the model's metrics at k, each
    baseline's, and the parameters the model was trained with."""
    k = evaluation.k
    keys = [f"{m}@{k}" for m in RANKING] + ["coverage", "popularity_rank", "users"]

    def pick(metrics: dict) -> dict:
        return {key: metrics[key] for key in keys}

    overall = evaluation.overall
    return {
        "k": k,
        "model": pick(overall["model"]),
        "baselines": {name: pick(m) for name, m in overall.items() if name not in ("model", "published")},
        "params": params,
    }


# --- the quality gate ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reason: str
    checks: list[dict] = field(default_factory=list)  # name, value, needed, passed


def quality_gate(
    model: dict[str, float],
    baseline: dict[str, float],
    k: int,
    min_lift: float,
    published: dict[str, float] | None = None,
    tolerance: float = 0.0,
    published_version: str | None = None,
) -> GateDecision:
    """Publish only a model whose NDCG@k beats the popularity baseline by ``min_lift`` (relative)
    and, when a version is published, is not below that version's NDCG@k by more than
    ``tolerance`` (relative), both measured on the same holdout."""
    key = f"ndcg@{k}"
    checks = [
        {
            "name": f"beats popular by {min_lift:.0%}",
            "value": model[key],
            "needed": baseline[key] * (1 + min_lift),
            "passed": model[key] > baseline[key] * (1 + min_lift),
        }
    ]
    if published is not None:
        needed = published[key] * (1 - tolerance)
        checks.append(
            {
                "name": f"within {tolerance:.0%} of published {published_version or ''}".rstrip(),
                "value": model[key],
                "needed": needed,
                "passed": model[key] >= needed,
            }
        )
    failed = [c for c in checks if not c["passed"]]
    if not failed:
        parts = [f"popular {baseline[key]:.4f} x {1 + min_lift:.2f}"]
        if published is not None:
            parts.append(f"published {published_version} {published[key]:.4f} x {1 - tolerance:.2f}")
        return GateDecision(True, f"{key} {model[key]:.4f} passes: > {' and >= '.join(parts)}", checks)
    reasons = []
    for check in failed:
        if check["name"].startswith("beats popular"):
            reasons.append(
                f"{key} {model[key]:.4f} does not beat the popularity baseline {baseline[key]:.4f} "
                f"by the required {min_lift:.0%}"
            )
        else:
            reasons.append(
                f"{key} {model[key]:.4f} is more than {tolerance:.0%} below the published version "
                f"{published_version} ({published[key]:.4f}) on the same holdout"
            )
    return GateDecision(False, "; ".join(reasons), checks)
