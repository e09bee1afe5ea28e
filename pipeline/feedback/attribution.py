"""The join: which answer each later event follows, and what each user did with what they were shown.

An event is attributed to one listed item of one impression:

- by ``rec_id``, when the event carries one: the impression of that rec_id, when it lists the
  event's item and the event comes within ``window`` after it;
- otherwise by (user, item): the latest impression to that user listing the item, within
  ``window`` before the event.

An event whose ``rec_id`` matches no impression is never attributed by (user, item) instead: it is
counted as unknown and reported (the log lost the answer, or the rec_id is not ours). Exact
duplicate events count once, as training counts them.

The result is one row per unit of randomisation, the user (an impression without a user, an
anonymous similar-items answer, is a unit of its own), in each (version, experiment, arm,
source): its impressions, how many were clicked through (a view or click of a listed item) and
converted (a purchase of a listed item), the revenue of those purchases, and the ranks acted on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

import duckdb
import pandas as pd

CLICK_TYPES = ("view", "click")
CONVERSION_TYPES = ("purchase",)
GROUP_KEYS = ("version", "experiment", "arm", "source")
UNIT_COLUMNS = GROUP_KEYS + (
    "unit",
    "impressions",
    "clicks",
    "conversions",
    "revenue",
    "priced",
    "rank_sum",
    "ranked",
)

EVENTS_SQL = """
SELECT row_number() OVER () AS event_no, * FROM (
    SELECT DISTINCT user_id, item_id, event_type, ts, price, quantity, {rec_id} AS rec_id
    FROM raw_events WHERE ts >= $since AND list_contains($types, event_type)
)
"""

ATTRIBUTION_SQL = """
WITH imp AS (SELECT * FROM impressions WHERE ts >= $since),
listed AS (
    SELECT rec_id, ts, user_id, unnest(items) AS item, generate_subscripts(items, 1) AS rank FROM imp
),
ev AS ({events}),
by_rec AS (
    SELECT e.event_no, l.rec_id, l.rank
    FROM ev e JOIN listed l ON e.rec_id = l.rec_id AND e.item_id = l.item
    WHERE e.ts >= l.ts AND e.ts < l.ts + $window
),
by_user AS (
    SELECT e.event_no,
           arg_max(l.rec_id, (l.ts, l.rec_id)) AS rec_id, arg_max(l.rank, (l.ts, l.rec_id)) AS rank
    FROM ev e JOIN listed l ON e.user_id = l.user_id AND e.item_id = l.item
    WHERE e.rec_id IS NULL AND e.ts >= l.ts AND e.ts < l.ts + $window
    GROUP BY e.event_no
),
attributed AS (
    SELECT a.rec_id, a.rank, e.event_type,
           CASE WHEN list_contains($conversions, e.event_type) THEN e.price * coalesce(e.quantity, 1) END
               AS revenue
    FROM (SELECT * FROM by_rec UNION ALL SELECT * FROM by_user) a JOIN ev e USING (event_no)
),
per_impression AS (
    SELECT i.rec_id,
           count_if(coalesce(list_contains($clicks, a.event_type), false)) > 0 AS clicked,
           count_if(coalesce(list_contains($conversions, a.event_type), false)) > 0 AS converted,
           coalesce(sum(a.revenue), 0) AS revenue,
           count(a.revenue) AS priced,
           coalesce(sum(a.rank), 0) AS rank_sum,
           count(a.rank) AS ranked
    FROM imp i LEFT JOIN attributed a USING (rec_id)
    GROUP BY i.rec_id
)
SELECT i.version, i.experiment, i.arm, i.source,
       CASE WHEN i.user_id IS NULL THEN 'answer:' || i.rec_id ELSE 'user:' || i.user_id END AS unit,
       count(*) AS impressions, count_if(p.clicked) AS clicks, count_if(p.converted) AS conversions,
       sum(p.revenue)::DOUBLE AS revenue, sum(p.priced) AS priced, sum(p.rank_sum) AS rank_sum,
       sum(p.ranked) AS ranked
FROM imp i JOIN per_impression p USING (rec_id)
GROUP BY ALL
ORDER BY ALL
"""

COVERAGE_SQL = """
WITH ev AS ({events})
SELECT count(*) AS events,
       count_if(rec_id IS NOT NULL AND rec_id IN (SELECT rec_id FROM impressions)) AS with_known_rec_id,
       count_if(rec_id IS NOT NULL AND rec_id NOT IN (SELECT rec_id FROM impressions)) AS with_unknown_rec_id,
       count_if(rec_id IS NULL) AS without_rec_id
FROM ev
"""


@dataclass(frozen=True)
class EventCoverage:
    """The events since the start, by what their rec_id says; unknown ones are never dropped silently."""

    events: int
    with_known_rec_id: int
    with_unknown_rec_id: int
    without_rec_id: int
    unknown_examples: tuple[str, ...] = ()  # a few unknown rec_ids, shortened, to look them up

    def as_dict(self) -> dict:
        return asdict(self)


def per_unit(
    con: duckdb.DuckDBPyConnection,
    since: datetime,
    window_hours: float,
    clicks: Sequence[str] = CLICK_TYPES,
    conversions: Sequence[str] = CONVERSION_TYPES,
) -> pd.DataFrame:
    """One row per (version, experiment, arm, source, unit): ``UNIT_COLUMNS``."""
    sql = ATTRIBUTION_SQL.format(events=events_sql(con))
    params = {
        "since": since,
        "window": pd.Timedelta(hours=window_hours).to_pytimedelta(),
        "types": list(clicks) + list(conversions),
        "clicks": list(clicks),
        "conversions": list(conversions),
    }
    return con.execute(sql, params).df()


def coverage(
    con: duckdb.DuckDBPyConnection,
    since: datetime,
    clicks: Sequence[str] = CLICK_TYPES,
    conversions: Sequence[str] = CONVERSION_TYPES,
) -> EventCoverage:
    """How many events since ``since`` carry a known, an unknown or no rec_id."""
    params = {"since": since, "types": list(clicks) + list(conversions)}
    events, known, unknown, without = con.execute(
        COVERAGE_SQL.format(events=events_sql(con)), params
    ).fetchall()[0]
    examples = con.execute(
        f"SELECT DISTINCT left(rec_id, 40) FROM ({events_sql(con)}) "
        "WHERE rec_id IS NOT NULL AND rec_id NOT IN (SELECT rec_id FROM impressions) ORDER BY 1 LIMIT 5",
        params,
    ).fetchall()
    return EventCoverage(events, known, unknown, without, tuple(e[0] for e in examples))


def events_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The events query; a warehouse opened read-only before it gained ``rec_id`` reads it as NULL."""
    columns = {r[0] for r in con.execute("DESCRIBE raw_events").fetchall()}
    return EVENTS_SQL.format(rec_id="rec_id" if "rec_id" in columns else "NULL::VARCHAR")
