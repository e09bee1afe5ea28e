"""Online metrics with confidence intervals that respect the unit of randomisation, the user.

Every metric is a ratio of sums over users, ``R = Σ y_u / Σ x_u``: click-through is clicked
impressions over impressions, conversion is converted impressions over impressions, revenue per
user is revenue over users (``x_u = 1``). A user's impressions are not independent of each
other, so the standard error comes from the users, by the delta method: with the user's
linearised value ``d_u = (y_u - R x_u) / mean(x)``, ``se(R) = sd(d) / sqrt(n)`` over the ``n``
users, and the interval is Student's t with ``n - 1`` degrees of freedom. (Counting impressions
as independent would make the intervals too narrow whenever users come back.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from pipeline.feedback import attribution
from pipeline.feedback.attribution import GROUP_KEYS, EventCoverage

LEVEL = 0.95
# the groupings reported: per served version, per experiment arm, and per version, arm and source
GROUPINGS: tuple[tuple[str, ...], ...] = (("version",), ("experiment", "arm"), GROUP_KEYS)


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    se: float
    units: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GroupMetrics:
    """One reported group; a key that is None was summed over (``experiment`` None with ``arm``
    None in the per-arm grouping are the answers outside any experiment)."""

    grouping: tuple[str, ...]
    key: dict[str, str | None]
    impressions: int
    users: int
    ctr: Estimate
    conversion: Estimate
    revenue_per_user: Estimate | None  # None when no attributed purchase had a price
    mean_rank: float | None  # the mean rank (1 = first) of the listed items acted on

    def as_dict(self) -> dict:
        return asdict(self) | {"grouping": list(self.grouping)}


@dataclass
class OnlineMetrics:
    since: datetime
    window_hours: float
    groups: list[GroupMetrics] = field(default_factory=list)
    coverage: EventCoverage | None = None

    def as_dict(self) -> dict:
        return {
            "since": self.since.isoformat(),
            "window_hours": self.window_hours,
            "groups": [g.as_dict() for g in self.groups],
            "events": self.coverage.as_dict() if self.coverage else None,
        }


def ratio(y: np.ndarray, x: np.ndarray, level: float = LEVEL) -> Estimate:
    """``Σy / Σx`` with its delta-method standard error over units and a t-interval."""
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    n = len(x)
    if n == 0 or x.sum() == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), float("nan"), n)
    value = y.sum() / x.sum()
    se = float(linearised(y, x).std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se if n > 1 else float("nan")
    return Estimate(float(value), float(value - half), float(value + half), se, n)


def linearised(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Each unit's influence on the ratio ``Σy / Σx``: their mean is 0, their spread its error."""
    return (y - y.sum() / x.sum() * x) / x.mean()


def per_user(units: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """The unit rows summed over every group key not in ``keys`` (a user served by two sources
    of one arm is one user of the arm)."""
    if units.empty:
        return units
    by = list(keys) + ["unit"]
    return units.groupby(by, dropna=False, sort=True).sum(numeric_only=True).reset_index()


def summarize(units: pd.DataFrame, keys: tuple[str, ...]) -> list[GroupMetrics]:
    """Metrics per group of ``keys`` over ``attribution.per_unit``'s rows."""
    users = per_user(units, keys)
    found = []
    for key, part in users.groupby(list(keys), dropna=False, sort=True) if not users.empty else []:
        values = key if isinstance(key, tuple) else (key,)
        ones = np.ones(len(part))
        found.append(
            GroupMetrics(
                grouping=keys,
                key={k: (None if pd.isna(v) else str(v)) for k, v in zip(keys, values, strict=True)},
                impressions=int(part["impressions"].sum()),
                users=int(part["unit"].str.startswith("user:").sum()),
                ctr=ratio(part["clicks"], part["impressions"]),
                conversion=ratio(part["conversions"], part["impressions"]),
                revenue_per_user=ratio(part["revenue"], ones) if part["priced"].sum() > 0 else None,
                mean_rank=float(part["rank_sum"].sum() / part["ranked"].sum())
                if part["ranked"].sum()
                else None,
            )
        )
    return found


def online_metrics(
    con: duckdb.DuckDBPyConnection, since: datetime, window_hours: float
) -> tuple[OnlineMetrics, pd.DataFrame]:
    """The metrics of every grouping since ``since``, and the per-user rows they came from."""
    units = attribution.per_unit(con, since, window_hours)
    metrics = OnlineMetrics(since, window_hours, coverage=attribution.coverage(con, since))
    for keys in GROUPINGS:
        metrics.groups += summarize(units, keys)
    return metrics, units
