"""Precompute: top-k items for every user, similar items for every item, popular fallbacks.

Results are index arrays into the artifact's ``item_ids``; ``-1`` pads a row that
has fewer than k candidates left after filtering (a user who has seen almost everything).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

import contract
from pipeline.precompute import progress, scoring

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopK:
    """Row i holds the ranked item indices and scores for the i-th key."""

    ids: np.ndarray  # (n, k) int32, -1 = padding
    scores: np.ndarray  # (n, k) float32

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        keep = self.ids[i] >= 0
        return self.ids[i][keep], self.scores[i][keep]


def blocks(n: int, size: int) -> Iterator[np.ndarray]:
    for start in range(0, n, size):
        yield np.arange(start, min(start + size, n))


def _padded(ids: np.ndarray, scores: np.ndarray) -> TopK:
    ids = np.asarray(ids, dtype=np.int32)
    scores = np.asarray(scores, dtype=np.float32)
    invalid = (ids < 0) | ~np.isfinite(scores)
    ids[invalid] = -1
    scores[invalid] = 0.0
    return TopK(ids, scores)


def top_k_for_users(
    model: AlternatingLeastSquares,
    user_items: sp.csr_matrix,
    k: int,
    users: np.ndarray | None = None,
    threads: int | None = None,
    on_block: Callable[[int], None] | None = None,
) -> TopK:
    """Each user's k best-scoring items that the user has not interacted with yet.

    For a factor model (ALS) this is exact: the same items as ranking every item by
    ``user_factors @ item_factors.T`` (ties: lower item index first), computed by
    ``scoring.top_k``. Other implicit models (e.g. item kNN) use their own batch ``recommend``.
    ``on_block`` is called with the number of users of each finished block (a progress bar).
    """
    if getattr(model, "item_factors", None) is None:
        return recommend_batches(model, user_items, k, users, on_block=on_block)
    if users is None:
        query, seen = model.user_factors, user_items
    else:
        users = np.asarray(users)
        query, seen = model.user_factors[users], user_items[users]
    ids, scores = scoring.top_k(query, model.item_factors, k, seen, threads=threads, on_block=on_block)
    return _padded(ids, scores)


def recommend_batches(
    model,
    user_items: sp.csr_matrix,
    k: int,
    users: np.ndarray | None = None,
    batch_size: int = 4096,
    on_block: Callable[[int], None] | None = None,
) -> TopK:
    """Top k through implicit's own batch ``model.recommend`` (any implicit model), BLAS on one thread."""
    users = np.arange(user_items.shape[0]) if users is None else np.asarray(users)
    k = min(k, user_items.shape[1])
    ids = np.full((len(users), k), -1, dtype=np.int32)
    scores = np.zeros((len(users), k), dtype=np.float32)
    with threadpool_limits(1, "blas"):
        for block in blocks(len(users), batch_size):
            userid = users[block]
            block_ids, block_scores = model.recommend(
                userid, user_items[userid], N=k, filter_already_liked_items=True
            )
            ids[block, : block_ids.shape[1]], scores[block, : block_ids.shape[1]] = block_ids, block_scores
            if on_block is not None:
                on_block(len(block))
    invalid = scores <= -np.finfo(np.float32).max  # implicit's mark of a filtered item
    ids[invalid], scores[invalid] = -1, 0.0
    return _padded(ids, scores)


def similar_items(model: AlternatingLeastSquares, k: int, threads: int | None = None) -> TopK:
    """Each item's k most similar other items by cosine of the item factors (a bar on a terminal)."""
    factors = np.asarray(model.item_factors, dtype=np.float32)
    norms = np.linalg.norm(factors, axis=1, keepdims=True)
    unit = factors / np.maximum(norms, 1e-10)
    itself = sp.identity(len(factors), dtype=np.float32, format="csr")
    with progress.terminal_bar(len(factors), "similar items", "items") as bar:
        ids, scores = scoring.top_k(
            unit, unit, min(k, len(factors) - 1) or 1, itself, threads=threads, on_block=bar.update
        )
    return _padded(ids, scores)


def item_popularity(user_items: sp.csr_matrix) -> np.ndarray:
    """Number of distinct users per item."""
    return np.bincount(user_items.indices, minlength=user_items.shape[1]).astype(np.float32)


def popular_top_k(
    user_items: sp.csr_matrix,
    k: int,
    users: np.ndarray | None = None,
    exclude_seen: bool = True,
    batch_size: int = 4096,
) -> TopK:
    """The most-popular baseline: the same popularity ranking for everyone, minus seen items."""
    popularity = item_popularity(user_items)
    users = np.arange(user_items.shape[0]) if users is None else np.asarray(users)
    k = min(k, user_items.shape[1])
    # only the top (k + most items any user has seen) popular items can ever be chosen
    widest = int(np.diff(user_items.indptr)[users].max(initial=0)) if exclude_seen else 0
    candidates = np.argsort(-popularity, kind="stable")[: k + widest]
    ids = np.full((len(users), k), -1, dtype=np.int32)
    scores = np.zeros((len(users), k), dtype=np.float32)
    for block in blocks(len(users), batch_size):
        seen = user_items[users[block]][:, candidates].toarray() > 0 if exclude_seen else False
        block_scores = np.where(seen, -np.inf, popularity[candidates][None, :])
        order = np.argsort(-block_scores, axis=1, kind="stable")[:, :k]
        ids[block] = candidates[order]
        scores[block] = np.take_along_axis(block_scores, order, axis=1)
    return _padded(ids, scores)


def popular_by_segment(user_items: sp.csr_matrix, user_segments: pd.Series | None, k: int) -> dict[str, TopK]:
    """Most-popular items overall ("global") and among the users of each segment.

    ``user_segments`` is indexed by user row number (matrix row) and holds the segment name.
    """
    result = {contract.GLOBAL_SEGMENT: _popular_list(user_items, k)}
    if user_segments is None:
        return result
    for segment, rows in user_segments.groupby(user_segments).groups.items():
        if not servable_segment(str(segment)):
            continue
        result[str(segment)] = _popular_list(user_items[np.asarray(rows)], k)
    return result


def servable_segment(segment: str) -> bool:
    """Whether a segment of the data can have its own popular list; a warning says why not.

    A segment named like the global list would replace it (its few users' items shown to every
    unknown visitor), and one the id rule refuses could never be asked for.
    """
    if segment == contract.GLOBAL_SEGMENT:
        log.warning("segment %r is the global list's name: its users count in the global list only", segment)
        return False
    problem = contract.id_problem(segment, contract.MAX_SEGMENT_LENGTH)
    if problem:
        log.warning("segment %r %s: its users count in the global list only", segment[:80], problem)
        return False
    return True


def _popular_list(user_items: sp.csr_matrix, k: int) -> TopK:
    popularity = item_popularity(user_items)
    order = np.argsort(-popularity, kind="stable")[:k]
    order = order[popularity[order] > 0]
    share = popularity[order] / max(user_items.shape[0], 1)
    return _padded(order[None, :], share[None, :])


@dataclass(frozen=True)
class Precomputed:
    """Everything a model version publishes, as indices into ``item_ids``."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    users: TopK  # row i: recommendations for user_ids[i]
    similar: TopK  # row j: similar items of item_ids[j]
    popular: dict[str, TopK]  # segment -> a one-row TopK
    k: int
    categories: np.ndarray | None = None  # each item's category (pipeline.precompute.rules), stored on rows
    new_item_ids: np.ndarray | None = None  # items offered to explore, indices len(item_ids) on (explore)
    names: np.ndarray | None = None  # each model item's catalog name, stored on its own row (rules)

    @property
    def n_rows(self) -> int:
        return len(self.user_ids) + len(self.item_ids) + len(self.popular)
