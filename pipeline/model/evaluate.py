"""Evaluate: a candidate and its baselines measured on one holdout, overall and per slice.

The holdout comes from ``pipeline.data.splits``, the ranking metrics (and their definitions)
from ``pipeline.model.metrics``, and the decision from ``pipeline.model.gate``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.nearest_neighbours import CosineRecommender
from implicit.utils import ParameterWarning
from pydantic import BaseModel, ConfigDict, Field

from pipeline.data.splits import Holdout
from pipeline.model import sampling, train
from pipeline.model.metrics import (
    RANKING,
    EvaluationError,
    ci95,
    coverage,
    per_user_metrics,
    popularity_curve,
    popularity_rank,
    popularity_ranks,
    summarise,
)
from pipeline.precompute import recommend
from pipeline.settings import ALSParams

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


class Evaluation(BaseModel):
    """Metrics of a model and its baselines on one holdout: overall, per slice, popularity curve."""

    model_config = ConfigDict(frozen=True)

    k: int
    ks: list[int]
    overall: dict[str, dict[str, float]]  # list name -> metric -> value
    slices: dict[str, dict[str, dict[str, float]]] = Field(default_factory=dict)  # slice -> name -> ..
    curve: dict[str, list[float]] = Field(default_factory=dict)
    sampled_from: int | None = None  # held-out users in all, when a seeded sample of them was measured

    @property
    def headline(self) -> str:
        return f"ndcg@{self.k}"


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
    overall: dict[str, dict[str, float]] = {}
    by_slice: dict[str, dict[str, dict[str, float]]] = {}
    for name, ids in lists.items():
        per_user = per_user_metrics(ids, relevant, ks)
        tail_per_user = per_user_metrics(ids, tail, ks)
        catalogue = {f"coverage@{each}": coverage(ids[:, :each], train.shape[1]) for each in ks}
        catalogue |= {f"popularity_rank@{each}": popularity_rank(ids[:, :each], ranks) for each in ks}
        catalogue |= {
            "coverage": catalogue[f"coverage@{k}"],
            "popularity_rank": catalogue[f"popularity_rank@{k}"],
        }
        headline = f"ndcg@{k}"
        overall[name] = summarise(per_user) | catalogue | {f"{headline}_ci95": ci95(per_user[headline])}
        for slice_name, mask in slices.items():
            if (mask & ~np.isnan(per_user[headline])).any():
                by_slice.setdefault(slice_name, {})[name] = summarise(per_user, mask) | {
                    f"{headline}_ci95": ci95(np.where(mask, per_user[headline], np.nan))
                }
        if (~np.isnan(tail_per_user[headline])).any():
            by_slice.setdefault("long-tail items", {})[name] = summarise(tail_per_user) | {
                f"{headline}_ci95": ci95(tail_per_user[headline])
            }
    curve = popularity_curve({name: ids[:, :k] for name, ids in lists.items()}, train)
    return Evaluation(k=k, ks=ks, overall=overall, slices=by_slice, curve=curve)


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
    max_users: int | None = None,
    seed: int = 0,
) -> Evaluation:
    """The candidate (fitted on ``holdout.train``) against the baselines and, when given, the
    published version, all on the same holdout users and items: with more held-out users than
    ``max_users``, a seeded sample of that many (``sampling``; every list on the same sample, each
    metric's 95% interval beside it, ``sampled_from`` the held-out users in all).

    The published version is measured by refitting its parameters on this holdout's training
    part: its own factors were trained on data that may include these held-out events, and
    scoring them here would reward it for remembering the answers.
    """
    every = holdout.test_users
    if len(every) == 0:
        raise EvaluationError("the holdout has no user with a held-out item that is new to them")
    users = sampling.sample_users(every, max_users, seed)
    width = max(k, *ks) if ks else k
    lists = {"model": model_lists(model, holdout, users, width)} | baseline_lists(holdout, users, width)
    if published_params is not None:
        refitted = train.fit(holdout.train, published_params, use_gpu)
        lists["published"] = model_lists(refitted, holdout, users, width)
    measured = measure(lists, holdout, users, k, ks, attributes)
    return measured.model_copy(update={"sampled_from": len(every)}) if len(users) < len(every) else measured


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
