"""Business rules at precompute: what the catalog says may be stored in a version's lists.

- **Availability.** An item the catalog marks unavailable is never in a stored list (a user's,
  an item's similar items, a popular list): it is left out of the scoring itself, so every
  list is still full.
- **Candidates.** A user's row holds ``k + candidates`` items, a popular list as many, and a
  similar-items row ``similar_k + candidates``: the API filters during the day (items sold
  out since the run, ``exclude``, ``?category=``) and still fills ``k`` from the rest.
- **Seen items.** By default a user is never recommended an item they touched; the settings'
  ``seen_event_types`` narrows that to events of some types (``interactions.seen_matrix``). Items
  of ``repeat_purchase_categories`` (a category and the paths below it) may come back:
  consumables that people buy again.
- **Categories.** Each stored item's category travels with the row as a code into the version's
  category table (``contract.CategoryTable``), so that the API filters by category without
  reading anything per item.

Items the catalog does not have are available and have no category (they are reported at load).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp

import contract
from pipeline.data import catalog
from pipeline.precompute import recommend, scoring
from pipeline.precompute.recommend import TopK


@dataclass(frozen=True)
class ItemRules:
    """What the catalog says of the model's items, by item index (``Interactions.item_ids``)."""

    available: np.ndarray  # bool, one per item
    categories: np.ndarray | None  # str or None, one per item; None when the catalog has no categories
    names: np.ndarray | None = None  # str or None, one per item; None without a catalog

    @classmethod
    def none(cls, n_items: int) -> ItemRules:
        """No catalog: every item available, none with a category."""
        return cls(np.ones(n_items, dtype=bool), None)

    @property
    def unavailable(self) -> int:
        return int((~self.available).sum())


def item_rules(con: duckdb.DuckDBPyConnection, item_ids: np.ndarray) -> ItemRules:
    """The current catalog's availability and category of each of ``item_ids``."""
    entries = {entry.item_id: entry for entry in catalog.current_items(con)}
    if not entries:
        return ItemRules.none(len(item_ids))
    found = [entries.get(i) for i in item_ids.tolist()]
    available = np.array([e is None or e.available for e in found], dtype=bool)
    categories = np.array([e.category if e is not None else None for e in found], dtype=object)
    names = np.array([e.name if e is not None else None for e in found], dtype=object)
    has_any = any(c is not None for c in categories)
    return ItemRules(available, categories if has_any else None, names)


def in_categories(rules: ItemRules, wanted: Sequence[str]) -> np.ndarray:
    """Which items belong to one of the ``wanted`` categories (or a path below one)."""
    if rules.categories is None or not wanted:
        return np.zeros(len(rules.available), dtype=bool)
    return np.array([any(contract.in_category(c, w) for w in wanted) for c in rules.categories], dtype=bool)


def allow_repeats(seen: sp.csr_matrix, rules: ItemRules, repeat_categories: Sequence[str]) -> sp.csr_matrix:
    """``seen`` without its items of ``repeat_categories``: those may be recommended again."""
    repeat = in_categories(rules, repeat_categories)
    if not repeat.any():
        return seen
    kept = sp.diags((~repeat).astype(seen.dtype))
    trimmed = sp.csr_matrix(seen @ kept)
    trimmed.eliminate_zeros()
    return trimmed


# ---------------------------------------------------------------- lists without unavailable items


def _widened(ids: np.ndarray, scores: np.ndarray, width: int) -> TopK:
    """Rows padded with -1 to ``width`` columns, so that shards of any catalog concatenate."""
    short = width - ids.shape[1]
    if short > 0:
        ids = np.pad(ids, ((0, 0), (0, short)), constant_values=-1)
        scores = np.pad(scores, ((0, 0), (0, short)))
    return recommend._padded(ids, scores)


def _to_items(ids: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Indices into the available ``columns`` as item indices (-1 stays -1)."""
    return np.where(ids >= 0, columns[np.maximum(ids, 0)], -1)


def score_range(
    model, seen: sp.csr_matrix, k: int, users: range, available: np.ndarray | None, threads: int | None = None
) -> TopK:
    """Top k of the users in ``users`` among available items only (None: all), as rows 0..len(users)."""
    rows = np.arange(users.start, users.stop)
    if available is None or available.all():
        return recommend.top_k_for_users(model, seen, k, rows, threads=threads)
    if getattr(model, "item_factors", None) is None:  # no factors to slice: rank more, then drop
        wider = recommend.top_k_for_users(model, seen, k + int((~available).sum()), rows, threads=threads)
        return drop_unavailable(wider, available, k)
    columns = np.flatnonzero(available)
    if not columns.size:  # nothing can be recommended: empty lists (the API backfills or says so)
        return _widened(np.empty((len(rows), 0), np.int32), np.empty((len(rows), 0), np.float32), k)
    exclude = seen[rows][:, columns]
    query, items = model.user_factors[rows], model.item_factors[columns]
    ids, scores = scoring.top_k(query, items, max(min(k, len(columns)), 1), exclude, threads=threads)
    return _widened(_to_items(np.asarray(ids), columns), np.asarray(scores), k)


def similar_available(model, k: int, available: np.ndarray, threads: int | None = None) -> TopK:
    """Each item's k most similar available items (cosine of the item factors), for every item."""
    if available.all():
        return recommend.similar_items(model, k, threads=threads)
    factors = np.asarray(model.item_factors, dtype=np.float32)
    unit = factors / np.maximum(np.linalg.norm(factors, axis=1, keepdims=True), 1e-10)
    columns = np.flatnonzero(available)
    if columns.size < 2:  # no other available item to be similar to
        return _widened(np.empty((len(factors), 0), np.int32), np.empty((len(factors), 0), np.float32), k)
    position = np.full(len(factors), -1)
    position[columns] = np.arange(len(columns))
    itself = sp.csr_matrix(
        (np.ones(len(columns), dtype=np.float32), (columns, position[columns])),
        shape=(len(factors), len(columns)),
    )
    width = max(min(k, len(columns) - 1), 1)
    ids, scores = scoring.top_k(unit, unit[columns], width, itself, threads=threads)
    return _widened(_to_items(np.asarray(ids), columns), np.asarray(scores), k)


def popular_available(
    user_items: sp.csr_matrix, segments: pd.Series | None, k: int, available: np.ndarray
) -> dict[str, TopK]:
    """``recommend.popular_by_segment`` without unavailable items, each list still up to k long."""
    lists = recommend.popular_by_segment(user_items, segments, k + int((~available).sum()))
    return {segment: drop_unavailable(top, available, k) for segment, top in lists.items()}


def drop_unavailable(top: TopK, available: np.ndarray, k: int) -> TopK:
    """Each row's available items, in order, cut to k (padded with -1)."""
    ids = np.full((top.ids.shape[0], k), -1, dtype=np.int32)
    scores = np.zeros((top.ids.shape[0], k), dtype=np.float32)
    for r in range(top.ids.shape[0]):
        row_ids, row_scores = top.row(r)
        keep = available[row_ids]
        kept = row_ids[keep][:k]
        ids[r, : len(kept)], scores[r, : len(kept)] = kept, row_scores[keep][:k]
    return TopK(ids, scores)


# ---------------------------------------------------------------- what the rows carry


def item_codes(categories: np.ndarray, table: contract.CategoryTable) -> np.ndarray:
    """Each listed item's category code in the version's ``table`` (``contract.CategoryTable``)."""
    return np.array([table.code_of[c] for c in categories.tolist()], dtype=object)


def row_category_codes(top: TopK, codes: np.ndarray) -> Iterator[str]:
    """Each row's ``cats`` attribute (its items' codes, concatenated), in row order."""
    for ids in top.ids.tolist():
        yield "".join(codes[[i for i in ids if i >= 0]].tolist())


def row_new_items(top: TopK, n_model_items: int) -> Iterator[list[int]]:
    """Each row's positions of items offered to explore (indices past the model's items)."""
    for ids in top.ids.tolist():
        kept = [i for i in ids if i >= 0]
        yield [n for n, i in enumerate(kept) if i >= n_model_items]


def item_about(
    pre_names: np.ndarray | None, categories: np.ndarray | None, n_items: int
) -> Iterator[str] | None:
    """Each item row's ``about`` attribute ([name, category]), in item order; None without a catalog."""
    if pre_names is None:
        return None
    cats = categories if categories is not None else np.full(n_items, None, dtype=object)
    return (contract.encode_about(pre_names[j], cats[j]) for j in range(n_items))
