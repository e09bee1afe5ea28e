"""Interactions: the user x item weights that training reads, derived from raw events by SQL.

This is the data -> training contract: training sees one query's result,
``(user, item, weight)``, and nothing else of the warehouse. The query, in order:

1. events in ``[since, until)``, items matching ``exclude_items_regex`` left out
   (postage, fees and other non-products), exact duplicates (same user, item,
   event type and time) counted once;
2. each event weighs its type's weight (``event_weights``: view < cart < purchase;
   a return weighs negative, so it offsets the purchase it undoes; a log without event types is
   all ``default_event_type``, weight 1), times its own ``weight`` (a rating) when the log has one, times
   ``0.5 ** (age / half_life_days)`` when a half-life is set (age from the last event);
3. weights add up per (user, item); pairs whose net weight is <= 0 are dropped;
4. items with fewer than ``min_item_interactions`` users, then users with fewer than
   ``min_user_interactions`` items, are dropped.

Users and items are joined through the warehouse's stable id maps (see
``pipeline.data.warehouse``), so the heavy aggregation runs on integers; matrices list
their ids in sorted order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp

from pipeline.data.warehouse import one_row
from pipeline.errors import PipelineError


class EmptyInteractionsError(PipelineError):
    """The warehouse holds no usable interactions."""


@dataclass(frozen=True)
class InteractionRules:
    """How raw events become interaction weights (see the module docstring)."""

    event_weights: dict[str, float]
    exclude_items_regex: str | None = None
    half_life_days: float | None = None
    min_user_interactions: int = 1
    min_item_interactions: int = 1

    @classmethod
    def from_settings(cls, settings) -> InteractionRules:
        return cls(
            settings.all_event_weights(),
            settings.exclude_items_regex,
            settings.half_life_days,
            settings.min_user_interactions,
            settings.min_item_interactions,
        )

    def without_thresholds(self) -> InteractionRules:
        return InteractionRules(self.event_weights, self.exclude_items_regex, self.half_life_days)


@dataclass(frozen=True)
class Interactions:
    """A user x item matrix and the ids of its rows and columns."""

    user_items: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.user_items.shape

    def fingerprint(self) -> str:
        """A hash of the matrix and its ids: same data, same fingerprint."""
        digest = hashlib.sha256()
        m = self.user_items
        for part in (m.indptr, m.indices, m.data):
            digest.update(np.ascontiguousarray(part).tobytes())
        for ids in (self.user_ids, self.item_ids):
            digest.update("\x1f".join(ids.tolist()).encode())
        return f"{m.shape[0]}x{m.shape[1]}:{m.nnz}:{digest.hexdigest()[:16]}"


PAIRS_SQL = """
WITH events AS (
    SELECT DISTINCT u.idx AS u, i.idx AS i, CASE e.event_type {codes} END AS code, e.ts,
        coalesce(e.weight, 1.0) AS scale
    FROM raw_events e
    JOIN user_ids u ON u.user_id = e.user_id
    JOIN item_ids i ON i.item_id = e.item_id
    WHERE e.event_type IN ({types}) AND {where}
),
pairs AS (
    SELECT e.u, e.i, sum(CASE e.code {weights} END * e.scale * {decay}) AS weight
    FROM events e
    GROUP BY e.u, e.i
    HAVING sum(CASE e.code {weights} END * e.scale * {decay}) > 0
){thresholds}
"""
THRESHOLDS_SQL = """,
items AS (SELECT i FROM pairs GROUP BY i HAVING count(*) >= $min_item),
users AS (SELECT u FROM pairs SEMI JOIN items USING (i) GROUP BY u HAVING count(*) >= $min_user)
SELECT p.u, p.i, p.weight::FLOAT AS weight
FROM pairs p SEMI JOIN items USING (i) SEMI JOIN users USING (u)
"""
NO_THRESHOLDS_SQL = """
SELECT u, i, weight::FLOAT AS weight FROM pairs
"""
DECAY_SQL = "pow(0.5, epoch((SELECT max(ts) FROM events) - e.ts) / {seconds})"

# ---------------------------------------------------------------- SQL


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def pairs_sql(rules: InteractionRules, since: datetime = datetime.min, until: datetime = datetime.max) -> str:
    """The query giving (u, i, weight) by stable index; parameters from ``pairs_params``.

    Conditions that would hold for every row are left out of the SQL, not just bound.
    """
    types = list(rules.event_weights)
    codes = " ".join(f"WHEN {_sql_string(t)} THEN {code}" for code, t in enumerate(types))
    weights = " ".join(f"WHEN {code} THEN {float(rules.event_weights[t])}" for code, t in enumerate(types))
    decay = "1.0"
    if rules.half_life_days is not None:
        decay = DECAY_SQL.format(seconds=float(rules.half_life_days) * 86_400)
    where = [
        *(["e.ts >= $since"] if since != datetime.min else []),
        *(["e.ts < $until"] if until != datetime.max else []),
        *(["NOT regexp_full_match(e.item_id, $exclude)"] if rules.exclude_items_regex else []),
    ]
    thresholds = THRESHOLDS_SQL if _has_thresholds(rules) else NO_THRESHOLDS_SQL
    return PAIRS_SQL.format(
        codes=codes,
        types=", ".join(map(_sql_string, types)),
        weights=weights,
        decay=decay,
        where=" AND ".join(where) or "true",
        thresholds=thresholds,
    )


def _has_thresholds(rules: InteractionRules) -> bool:
    return rules.min_item_interactions > 1 or rules.min_user_interactions > 1


def pairs_params(rules: InteractionRules, since: datetime, until: datetime) -> dict:
    return {
        **({"since": since} if since != datetime.min else {}),
        **({"until": until} if until != datetime.max else {}),
        **({"exclude": rules.exclude_items_regex} if rules.exclude_items_regex else {}),
        **(
            {"min_item": rules.min_item_interactions, "min_user": rules.min_user_interactions}
            if _has_thresholds(rules)
            else {}
        ),
    }


def time_range(con: duckdb.DuckDBPyConnection) -> tuple[datetime, datetime]:
    first, last = one_row(con, "SELECT min(ts), max(ts) FROM raw_events")
    if first is None:
        raise EmptyInteractionsError("raw_events is empty: ingest some events first")
    return first, last


# ---------------------------------------------------------------- matrices


def id_map(con: duckdb.DuckDBPyConnection, kind: Literal["user", "item"]) -> np.ndarray:
    """The warehouse's ``kind`` ids by stable index: ``id_map(con, "item")[idx]`` is that item's id."""
    ids = con.execute(f"SELECT {kind}_id FROM {kind}_ids ORDER BY idx").fetchnumpy()[f"{kind}_id"]
    return np.asarray(ids, dtype=str)


def _sorted_codes(idx: np.ndarray, ids_by_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row codes of stable indices ``idx`` in a matrix whose rows are the present ids, sorted."""
    present = np.flatnonzero(np.bincount(idx, minlength=len(ids_by_idx)))  # indices are dense: no sort
    order = np.argsort(ids_by_idx[present], kind="stable")
    code_of = np.full(len(ids_by_idx), -1, dtype=np.int32)
    code_of[present[order]] = np.arange(len(order), dtype=np.int32)
    return code_of[idx], ids_by_idx[present[order]]


def matrix_from_pairs(
    u: np.ndarray, i: np.ndarray, weight: np.ndarray, user_map: np.ndarray, item_map: np.ndarray
) -> Interactions:
    """A CSR matrix (ids sorted) from pairs given by stable index, without per-row Python strings."""
    if len(u) == 0:
        raise EmptyInteractionsError("no interactions with a positive weight")
    rows, user_ids = _sorted_codes(u, user_map)
    cols, item_ids = _sorted_codes(i, item_map)
    matrix = sp.csr_matrix(
        (weight.astype(np.float32, copy=False), (rows, cols)), shape=(len(user_ids), len(item_ids))
    )
    matrix.sum_duplicates()
    return Interactions(matrix, user_ids, item_ids)


def load_matrix(
    con: duckdb.DuckDBPyConnection,
    rules: InteractionRules,
    since: datetime = datetime.min,
    until: datetime = datetime.max,
) -> Interactions:
    """The interactions of events in [since, until) as a matrix: what training reads."""
    pairs = con.execute(pairs_sql(rules, since, until), pairs_params(rules, since, until)).fetchnumpy()
    return matrix_from_pairs(
        pairs["u"], pairs["i"], pairs["weight"], id_map(con, "user"), id_map(con, "item")
    )


def _positions(ids_by_idx: np.ndarray, idx: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    """Positions of the ids with stable indices ``idx`` in ``sorted_ids``; -1 where absent."""
    ids = ids_by_idx[idx]
    pos = np.searchsorted(sorted_ids, ids)
    found = (pos < len(sorted_ids)) & (sorted_ids[np.minimum(pos, len(sorted_ids) - 1)] == ids)
    return np.where(found, pos, -1)


def seen_matrix(
    con: duckdb.DuckDBPyConnection,
    exclude_items_regex: str | None,
    like: Interactions,
    event_types: Sequence[str] | None = None,
) -> sp.csr_matrix:
    """1 where a user of ``like`` had an event with an item of ``like`` (any net weight), of one of
    ``event_types`` (None: of any type; the settings' ``seen_event_types``).

    Shaped and indexed as ``like.user_items``: what to filter out of a user's recommendations.
    """
    pairs = con.execute(
        """SELECT DISTINCT u.idx AS u, i.idx AS i
           FROM raw_events e
           JOIN user_ids u ON u.user_id = e.user_id JOIN item_ids i ON i.item_id = e.item_id
           WHERE ($exclude IS NULL OR NOT regexp_full_match(e.item_id, $exclude))
             AND ($types IS NULL OR list_contains($types, e.event_type))""",
        {"exclude": exclude_items_regex, "types": None if event_types is None else list(event_types)},
    ).fetchnumpy()
    rows = _positions(id_map(con, "user"), np.asarray(pairs["u"]), like.user_ids)
    cols = _positions(id_map(con, "item"), np.asarray(pairs["i"]), like.item_ids)
    keep = (rows >= 0) & (cols >= 0)
    return sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], cols[keep])), shape=like.shape
    )


# ---------------------------------------------------------------- segments


def user_segments(
    con: duckdb.DuckDBPyConnection, column: str | None, user_ids: np.ndarray
) -> pd.Series | None:
    """Each user's most frequent value of ``column`` (e.g. country) by matrix row, named ``column``;
    users without one are left out. None when no segment column is configured."""
    if column is None:
        return None
    if column not in {"country"}:
        raise ValueError(
            f"segment column must be one of raw_events' attribute columns (country), got {column!r}"
        )
    frame = con.execute(
        f"SELECT user_id, mode({column}) AS segment FROM raw_events "
        f"WHERE {column} IS NOT NULL GROUP BY user_id"
    ).df()
    by_user = frame.set_index("user_id")["segment"]
    values = by_user.reindex(user_ids).to_numpy()
    return pd.Series(values, index=np.arange(len(user_ids)), name=column).dropna()
