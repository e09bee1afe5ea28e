"""New items: exploration slots for catalog items the model has not learned yet.

A new item is one the catalog says was created within ``new_item_days`` of the newest event,
that is available, and that the model has no factors for (no events yet, or too few). Without
events nobody's list would ever hold it, and it would never gather the events it needs.

Each user's list gives ``round(k * new_item_share)`` of its first k slots (at least one when the
share is above 0) to new items of the categories the user already spends on: a category's
affinity is the user's summed interaction weight on the model's items of that category. A new
item whose category the user has no affinity to is never offered to that user; an unavailable
one is never offered at all. The new items take the last slots of the first k, each with the
score of the slot it takes (lists stay in score order); the model's items they displace move
into the candidates. Rows mark them (``contract`` ``new``), and the API answers them with
``reason: "new"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import duckdb
import numpy as np
import scipy.sparse as sp

from pipeline.data import catalog
from pipeline.precompute.recommend import TopK, blocks


@dataclass(frozen=True)
class NewItems:
    """Catalog items to explore: their ids and categories (both one per item)."""

    item_ids: np.ndarray
    categories: np.ndarray

    def __len__(self) -> int:
        return len(self.item_ids)


NONE = NewItems(np.array([], dtype=str), np.array([], dtype=object))


def new_items(
    con: duckdb.DuckDBPyConnection, model_item_ids: np.ndarray, days: int, exclude_regex: str | None = None
) -> NewItems:
    """Available catalog items with a category, created within ``days`` of the newest event, that the
    model does not know and ``exclude_regex`` (the settings' ``exclude_items_regex``) does not exclude."""
    if days <= 0 or not catalog.has_catalog(con):
        return NONE
    newest = con.execute("SELECT max(ts) FROM raw_events").fetchone()
    if newest is None or newest[0] is None:
        return NONE
    since = newest[0] - timedelta(days=days)
    known = set(model_item_ids.tolist())
    found = [
        (entry.item_id, entry.category)
        for entry in catalog.current_items(con)
        if entry.available
        and entry.category is not None
        and entry.created_at is not None
        and entry.created_at >= since
        and entry.item_id not in known
        and not (exclude_regex and re.fullmatch(exclude_regex, entry.item_id))
    ]
    if not found:
        return NONE
    ids, cats = zip(*found, strict=True)
    return NewItems(np.array(ids), np.array(cats, dtype=object))


def slots(k: int, share: float) -> int:
    """How many of the first k slots go to new items."""
    return 0 if share <= 0 else max(1, round(k * share))


def explore(
    users: TopK, user_items: sp.csr_matrix, categories: np.ndarray, new: NewItems, k: int, share: float
) -> TopK:
    """``users`` with new items in the last exploration slots of each row's first k, for users whose
    taste matches their category. New item j is index ``len(categories) + j`` in the result."""
    n_slots = min(slots(k, share), k)
    if not len(new) or n_slots == 0:
        return users
    names = sorted({c for c in categories if c is not None} | set(new.categories.tolist()))
    column = {name: n for n, name in enumerate(names)}
    model_cat = np.array([column.get(c, -1) if c is not None else -1 for c in categories])
    has = model_cat >= 0
    one_hot = sp.csr_matrix(
        (np.ones(int(has.sum()), dtype=np.float32), (np.flatnonzero(has), model_cat[has])),
        shape=(len(categories), len(names)),
    )
    new_cat = np.array([column[c] for c in new.categories.tolist()])
    ids, scores = users.ids.copy(), users.scores.copy()
    for block in blocks(ids.shape[0], 4096):
        affinity = np.asarray((user_items[block] @ one_hot).todense())  # (users, categories)
        for row, taste in zip(block.tolist(), affinity, strict=True):
            chosen = _chosen(taste, new_cat, n_slots)
            if chosen.size:
                ids[row], scores[row] = _placed(ids[row], scores[row], chosen + len(categories), k)
    return TopK(ids, scores)


def _chosen(taste: np.ndarray, new_cat: np.ndarray, n_slots: int) -> np.ndarray:
    """The new items for one user: those of categories with positive affinity, the strongest first
    (ties: catalog order), at most ``n_slots``."""
    weight = taste[new_cat]
    liked = np.flatnonzero(weight > 0)
    order = liked[np.argsort(-weight[liked], kind="stable")]
    return order[:n_slots]


def _placed(
    ids: np.ndarray, scores: np.ndarray, new_ids: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """One row with ``new_ids`` in the last slots of its first k (the row's width is kept)."""
    filled = int((ids[:k] >= 0).sum())
    at = max(filled - len(new_ids), 0)  # the last slots of the row's own items
    slot_score = scores[at] if at < filled else (scores[filled - 1] if filled else 0.0)
    width = len(ids)
    merged_ids = np.concatenate([ids[:at], new_ids, ids[at:]])[:width]
    merged_scores = np.concatenate([scores[:at], np.full(len(new_ids), slot_score), scores[at:]])[:width]
    return merged_ids, merged_scores


def with_new_items(
    users: TopK, user_items: sp.csr_matrix, categories: np.ndarray | None, new: NewItems, k: int, share: float
) -> tuple[TopK, np.ndarray | None, np.ndarray | None]:
    """The users' lists with exploration slots, the categories of every listed item (the model's,
    then the new ones) and the new items' ids; unchanged without new items or model categories."""
    if not len(new) or categories is None or slots(k, share) == 0:
        return users, categories, None
    explored = explore(users, user_items, categories, new, k, share)
    return explored, np.concatenate([categories, new.categories]), new.item_ids
