"""Interactions: the user x item weights that training reads, derived from raw events by SQL.

This is the data -> training contract: training sees one query's result,
``(user, item, weight)``, and nothing else of the warehouse. The query, in order:

1. events in ``[since, until)``, items matching ``exclude_items_regex`` left out
   (postage, fees and other non-products), exact duplicates (same user, item,
   event type and time) counted once;
2. each event weighs its type's weight (``event_weights``: view < cart < purchase;
   a return weighs negative, so it offsets the purchase it undoes), times
   ``0.5 ** (age / half_life_days)`` when a half-life is set (age from the last event);
3. weights add up per (user, item); pairs whose net weight is <= 0 are dropped;
4. items with fewer than ``min_item_interactions`` users, then users with fewer than
   ``min_user_interactions`` items, are dropped.

Users and items are joined through the warehouse's stable id maps (see
``pipeline.warehouse``), so the heavy aggregation runs on integers; matrices list
their ids in sorted order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp

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
            dict(settings.event_weights),
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


PAIRS_SQL = """
WITH events AS (
    SELECT DISTINCT u.idx AS u, i.idx AS i, CASE e.event_type {codes} END AS code, e.ts
    FROM raw_events e
    JOIN user_ids u ON u.user_id = e.user_id
    JOIN item_ids i ON i.item_id = e.item_id
    WHERE e.event_type IN ({types}) AND {where}
),
pairs AS (
    SELECT e.u, e.i, sum(CASE e.code {weights} END * {decay}) AS weight
    FROM events e
    GROUP BY e.u, e.i
    HAVING sum(CASE e.code {weights} END * {decay}) > 0
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

# a per-user random split: each user's pairs in a seeded random order, the first
# floor(n * test_fraction) of them to test (so a user with one pair stays in training)
RANDOM_SPLIT_SQL = """
SELECT u, i, weight,
       row_number() OVER (PARTITION BY u ORDER BY hash(u, i, $seed)) <= floor(count(*) OVER (PARTITION BY u)
                                                                     * $fraction) AS test
FROM ({pairs})
"""


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


def _as_rules(
    rules: InteractionRules | dict[str, float], exclude_items_regex: str | None
) -> InteractionRules:
    """Rules as given, or built from the older (event_weights, exclude_items_regex) arguments."""
    if isinstance(rules, InteractionRules):
        return rules
    return InteractionRules(dict(rules), exclude_items_regex)


# ---------------------------------------------------------------- frames (the contract)


def interactions_frame(
    con: duckdb.DuckDBPyConnection,
    rules: InteractionRules | dict[str, float],
    exclude_items_regex: str | None = None,
    since: datetime = datetime.min,
    until: datetime = datetime.max,
) -> pd.DataFrame:
    """(user_id, item_id, weight) over events in [since, until); net weights <= 0 dropped.

    ``rules`` is an InteractionRules, or (as before) the event weights with the exclusion regex next.
    """
    rules = _as_rules(rules, exclude_items_regex)
    return con.execute(
        f"""SELECT uid.user_id, iid.item_id, p.weight
            FROM ({pairs_sql(rules, since, until)}) p
            JOIN user_ids uid ON uid.idx = p.u JOIN item_ids iid ON iid.idx = p.i""",
        pairs_params(rules, since, until),
    ).df()


def time_range(con: duckdb.DuckDBPyConnection) -> tuple[datetime, datetime]:
    first, last = con.execute("SELECT min(ts), max(ts) FROM raw_events").fetchone()
    if first is None:
        raise EmptyInteractionsError("raw_events is empty: ingest some events first")
    return first, last


def holdout_cutoff(con: duckdb.DuckDBPyConnection, holdout_days: int) -> datetime:
    """The start of the last ``holdout_days`` days of events: the time-based test period."""
    _, last = time_range(con)
    return last - timedelta(days=holdout_days)


def split_by_time(
    con: duckdb.DuckDBPyConnection,
    rules: InteractionRules | dict[str, float],
    exclude_items_regex: str | None,
    holdout_days: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Interactions before the last ``holdout_days`` days of events, and within them.

    Minimum-activity thresholds apply to the training part only.
    """
    rules = _as_rules(rules, exclude_items_regex)
    cutoff = holdout_cutoff(con, holdout_days)
    before = interactions_frame(con, rules, until=cutoff)
    after = interactions_frame(con, rules.without_thresholds(), since=cutoff)
    return before, after


def split_random(
    con: duckdb.DuckDBPyConnection, rules: InteractionRules, test_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's interactions split at random, ``test_fraction`` of them (rounded down) to test.

    Deterministic for a given warehouse, rules and seed.
    """
    frame = con.execute(
        f"""SELECT uid.user_id, iid.item_id, s.weight, s.test
            FROM ({RANDOM_SPLIT_SQL.format(pairs=pairs_sql(rules))}) s
            JOIN user_ids uid ON uid.idx = s.u JOIN item_ids iid ON iid.idx = s.i
            ORDER BY uid.user_id, iid.item_id""",
        pairs_params(rules, datetime.min, datetime.max) | {"seed": seed, "fraction": test_fraction},
    ).df()
    test = frame.pop("test").to_numpy(bool)
    return frame[~test].reset_index(drop=True), frame[test].reset_index(drop=True)


# ---------------------------------------------------------------- matrices


def to_matrix(
    frame: pd.DataFrame, user_ids: np.ndarray | None = None, item_ids: np.ndarray | None = None
) -> Interactions:
    """A CSR matrix from (user_id, item_id, weight) rows.

    Ids are sorted unless given; rows whose ids are not among given ids are dropped.
    """
    if frame.empty:
        raise EmptyInteractionsError("no interactions with a positive weight")
    users = pd.Categorical(
        frame["user_id"], categories=user_ids if user_ids is not None else sorted(frame["user_id"].unique())
    )
    items = pd.Categorical(
        frame["item_id"], categories=item_ids if item_ids is not None else sorted(frame["item_id"].unique())
    )
    keep = (users.codes >= 0) & (items.codes >= 0)
    matrix = sp.csr_matrix(
        (frame["weight"].to_numpy(np.float32)[keep], (users.codes[keep], items.codes[keep])),
        shape=(len(users.categories), len(items.categories)),
    )
    matrix.sum_duplicates()
    return Interactions(
        matrix, np.asarray(users.categories, dtype=str), np.asarray(items.categories, dtype=str)
    )


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


def split_matrices(
    con: duckdb.DuckDBPyConnection,
    rules: InteractionRules,
    how: Literal["time", "random-per-user"] = "time",
    holdout_days: int = 30,
    test_fraction: float = 0.2,
    seed: int = 42,
) -> tuple[Interactions, Interactions]:
    """(train, test) matrices: the last ``holdout_days`` days, or a seeded per-user random split."""
    if how == "time":
        cutoff = holdout_cutoff(con, holdout_days)
        return load_matrix(con, rules, until=cutoff), load_matrix(
            con, rules.without_thresholds(), since=cutoff
        )
    if how != "random-per-user":
        raise ValueError(f"split must be 'time' or 'random-per-user', got {how!r}")
    params = pairs_params(rules, datetime.min, datetime.max) | {"seed": seed, "fraction": test_fraction}
    pairs = con.execute(RANDOM_SPLIT_SQL.format(pairs=pairs_sql(rules)), params).fetchnumpy()
    users, items = id_map(con, "user"), id_map(con, "item")
    test = np.asarray(pairs["test"], dtype=bool)
    part = [{k: np.asarray(v)[mask] for k, v in pairs.items()} for mask in (~test, test)]
    return tuple(matrix_from_pairs(p["u"], p["i"], p["weight"], users, items) for p in part)


def _positions(ids_by_idx: np.ndarray, idx: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    """Positions of the ids with stable indices ``idx`` in ``sorted_ids``; -1 where absent."""
    ids = ids_by_idx[idx]
    pos = np.searchsorted(sorted_ids, ids)
    found = (pos < len(sorted_ids)) & (sorted_ids[np.minimum(pos, len(sorted_ids) - 1)] == ids)
    return np.where(found, pos, -1)


def seen_matrix(
    con: duckdb.DuckDBPyConnection, exclude_items_regex: str | None, like: Interactions
) -> sp.csr_matrix:
    """1 where a user of ``like`` had any event with an item of ``like`` (any type, any net weight).

    Shaped and indexed as ``like.user_items``: what to filter out of a user's recommendations.
    """
    pairs = con.execute(
        """SELECT DISTINCT u.idx AS u, i.idx AS i
           FROM raw_events e
           JOIN user_ids u ON u.user_id = e.user_id JOIN item_ids i ON i.item_id = e.item_id
           WHERE $exclude IS NULL OR NOT regexp_full_match(e.item_id, $exclude)""",
        {"exclude": exclude_items_regex},
    ).fetchnumpy()
    rows = _positions(id_map(con, "user"), np.asarray(pairs["u"]), like.user_ids)
    cols = _positions(id_map(con, "item"), np.asarray(pairs["i"]), like.item_ids)
    keep = (rows >= 0) & (cols >= 0)
    return sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], cols[keep])), shape=like.shape
    )


# ---------------------------------------------------------------- segments and data quality


def user_segments(con: duckdb.DuckDBPyConnection, column: str, user_ids: np.ndarray) -> pd.Series:
    """Each user's most frequent value of ``column`` (e.g. country), by matrix row; None when absent."""
    if column not in {"country"}:
        raise ValueError(
            f"segment column must be one of raw_events' attribute columns (country), got {column!r}"
        )
    frame = con.execute(
        f"SELECT user_id, mode({column}) AS segment FROM raw_events "
        f"WHERE {column} IS NOT NULL GROUP BY user_id"
    ).df()
    by_user = frame.set_index("user_id")["segment"]
    return pd.Series(by_user.reindex(user_ids).to_numpy(), index=np.arange(len(user_ids))).dropna()


@dataclass(frozen=True)
class DataQuality:
    """What one run saw: this run's ingest counts, then the warehouse and the training matrix."""

    rows_in: int
    rows_loaded: int
    rows_quarantined: int
    quarantine_reasons: dict[str, int]
    events_total: int
    event_types: dict[str, int]
    first_event: str | None
    last_event: str | None
    users: int
    items: int
    interactions: int
    density: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        types = ", ".join(f"{t} {n:,}" for t, n in self.event_types.items())
        reasons = ", ".join(f"{r} {n:,}" for r, n in self.quarantine_reasons.items()) or "none"
        lines = [
            f"rows in {self.rows_in:,}: loaded {self.rows_loaded:,}, quarantined {self.rows_quarantined:,}"
            f" ({reasons})",
            f"warehouse: {self.events_total:,} events ({types}), {self.first_event} .. {self.last_event}",
            f"training matrix: {self.users:,} users x {self.items:,} items, {self.interactions:,} "
            f"interactions, density {self.density:.3%}",
        ]
        return "\n".join(lines + self.notes)


def quality_summary(
    con: duckdb.DuckDBPyConnection, ingest_report: dict | None, data: Interactions
) -> DataQuality:
    """The data-quality summary of a run: ``ingest_report`` is ``IngestReport.as_dict()`` (or None)."""
    report = ingest_report or {}
    loaded, quarantined = report.get("rows_loaded", 0), report.get("rows_quarantined", 0)
    types = dict(
        con.execute("SELECT event_type, count(*) FROM raw_events GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    )
    first, last = con.execute("SELECT min(ts), max(ts) FROM raw_events").fetchone()
    users, items = data.shape
    notes = (
        [f"changed files not loaded: {', '.join(report['files_changed'])}"]
        if report.get("files_changed")
        else []
    )
    return DataQuality(
        rows_in=loaded + quarantined,
        rows_loaded=loaded,
        rows_quarantined=quarantined,
        quarantine_reasons=dict(report.get("quarantine_reasons", {})),
        events_total=sum(types.values()),
        event_types=types,
        first_event=None if first is None else str(first),
        last_event=None if last is None else str(last),
        users=users,
        items=items,
        interactions=int(data.user_items.nnz),
        density=data.user_items.nnz / (users * items) if users and items else 0.0,
        notes=notes,
    )
