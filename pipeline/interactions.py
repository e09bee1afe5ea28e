"""Interactions: the user x item weights that training reads, derived from raw events by SQL.

This is the data -> training contract: training sees one query's result,
``(user_id, item_id, weight)``, and nothing else of the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp

from pipeline.errors import PipelineError


class EmptyInteractionsError(PipelineError):
    """The warehouse holds no usable interactions."""


INTERACTIONS_SQL = """
SELECT e.user_id, e.item_id, SUM(w.weight)::FLOAT AS weight
FROM raw_events e
JOIN (SELECT * FROM (VALUES {weights}) AS t(event_type, weight)) w USING (event_type)
WHERE e.ts >= $since AND e.ts < $until
  AND ($exclude IS NULL OR NOT regexp_full_match(e.item_id, $exclude))
GROUP BY e.user_id, e.item_id
HAVING SUM(w.weight) > 0
"""


@dataclass(frozen=True)
class Interactions:
    """A user x item matrix and the ids of its rows and columns."""

    user_items: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.user_items.shape


def interactions_frame(
    con: duckdb.DuckDBPyConnection,
    event_weights: dict[str, float],
    exclude_items_regex: str | None = None,
    since: datetime = datetime.min,
    until: datetime = datetime.max,
) -> pd.DataFrame:
    """(user_id, item_id, weight) over events in [since, until); net weights <= 0 dropped.

    Weights add up per pair, so a return (negative weight) offsets the purchase it undoes.
    """
    weights = ", ".join(
        f"('{t.replace(chr(39), chr(39) * 2)}', {float(w)})" for t, w in event_weights.items()
    )
    return con.execute(
        INTERACTIONS_SQL.format(weights=weights),
        {"since": since, "until": until, "exclude": exclude_items_regex},
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
    event_weights: dict[str, float],
    exclude_items_regex: str | None,
    holdout_days: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Interactions before the last ``holdout_days`` days of events, and within them."""
    cutoff = holdout_cutoff(con, holdout_days)
    before = interactions_frame(con, event_weights, exclude_items_regex, until=cutoff)
    after = interactions_frame(con, event_weights, exclude_items_regex, since=cutoff)
    return before, after


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
