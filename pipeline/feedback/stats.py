"""Experiment statistics: two arms compared on users, as plain functions over per-user rows.

The unit of randomisation is the user, so every test is over users: each arm's metric is a ratio
of per-user sums (``pipeline.feedback.metrics``), its error from the delta method, and the two
arms are compared with Welch's t on those linearised per-user values (unequal variances, the
Welch-Satterthwaite degrees of freedom). Besides the p-value and the relative lift with its
interval, a report holds:

- the sample-ratio-mismatch check: a chi-square test of the users per arm against the configured
  treatment share (a mismatch means the bucketing or the logging is broken, and no other figure
  of the experiment can be trusted);
- the smallest lift the sample can detect (at ``alpha`` and ``power``), and a warning while it is
  larger than the configured ``min_detectable_lift``.

A winner is declared only when the two-sided p-value is under ``alpha``; an A/A experiment (one
version in both arms) therefore declares one in ``alpha`` of its runs, no more
(tests/pipeline/feedback/test_stats.py checks it over many seeds).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

import contract
from pipeline.feedback.metrics import Estimate, per_user, ratio
from pipeline.settings import OnlineTestSettings

ARMS = ("control", "treatment")
SRM_ALPHA = 0.001  # a mismatch this unlikely by chance is a bug, not luck
# a metric's per-user numerator and denominator columns (attribution.UNIT_COLUMNS)
METRIC_COLUMNS = {
    "ctr": ("clicks", "impressions"),
    "conversion": ("conversions", "impressions"),
    "revenue_per_user": ("revenue", None),
}


@dataclass(frozen=True)
class ArmSample:
    """One arm's users: the metric's numerator and denominator per user."""

    y: np.ndarray
    x: np.ndarray

    @property
    def users(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class Comparison:
    metric: str
    control: Estimate
    treatment: Estimate
    lift: float  # treatment / control - 1
    lift_low: float
    lift_high: float
    p_value: float  # Welch's t, two-sided
    detectable_lift: float  # the smallest relative lift this sample detects at alpha and power
    warning: str | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SampleRatio:
    control_users: int
    treatment_users: int
    expected_share: float
    p_value: float
    mismatch: bool

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ExperimentReport:
    experiment: str
    comparisons: list[Comparison]
    sample_ratio: SampleRatio | None  # None when the treatment share is not known
    winner: contract.Arm | None  # by the primary metric; None: no significant difference
    primary: str

    def as_dict(self) -> dict:
        return asdict(self)


def arm_samples(units: pd.DataFrame, experiment: str, metric: str) -> dict[str, ArmSample]:
    """Each arm's users of ``experiment`` (``attribution.per_unit``'s rows), for ``metric``."""
    numerator, denominator = METRIC_COLUMNS[metric]
    rows = units[units["experiment"] == experiment]
    users = per_user(rows, ("experiment", "arm"))
    found = {}
    for arm in ARMS:
        part = users[users["arm"] == arm] if not users.empty else users
        y = part[numerator].to_numpy(float) if not part.empty else np.zeros(0)
        x = part[denominator].to_numpy(float) if denominator and not part.empty else np.ones(len(y))
        found[arm] = ArmSample(y, x)
    return found


def welch(control: Estimate, treatment: Estimate) -> tuple[float, float]:
    """(t, two-sided p) of treatment - control from the two estimates' errors, Welch's df."""
    a, b = control.se**2, treatment.se**2
    if not (control.units > 1 and treatment.units > 1) or a + b == 0 or np.isnan(a + b):
        return float("nan"), float("nan")
    t = (treatment.value - control.value) / np.sqrt(a + b)
    df = (a + b) ** 2 / (a**2 / (control.units - 1) + b**2 / (treatment.units - 1))
    return float(t), float(2 * stats.t.sf(abs(t), df))


def compare(metric: str, control: ArmSample, treatment: ArmSample, rule: OnlineTestSettings) -> Comparison:
    """The two arms on ``metric``: estimates, relative lift with its interval, Welch's p, power."""
    c, t = ratio(control.y, control.x), ratio(treatment.y, treatment.x)
    _, p = welch(c, t)
    lift = t.value / c.value - 1 if c.value else float("nan")
    # delta method for a ratio of two independent estimates
    se_lift = (
        (t.value / c.value) * np.sqrt((t.se / t.value) ** 2 + (c.se / c.value) ** 2)
        if c.value and t.value
        else float("nan")
    )
    z = stats.norm.ppf(1 - rule.alpha / 2)
    detectable = (
        (z + stats.norm.ppf(rule.power)) * np.sqrt(c.se**2 + t.se**2) / c.value if c.value else float("inf")
    )
    warning = None
    if not detectable <= rule.min_detectable_lift:  # also when it is nan: too few users to say
        warning = (
            f"sample too small: {control.users} + {treatment.users} users detect a lift of "
            f"{detectable:.1%} at alpha {rule.alpha} and power {rule.power}, not the "
            f"min_detectable_lift of {rule.min_detectable_lift:.1%}"
        )
    return Comparison(
        metric,
        c,
        t,
        float(lift),
        float(lift - z * se_lift),
        float(lift + z * se_lift),
        p,
        float(detectable),
        warning,
    )


def sample_ratio(control_users: int, treatment_users: int, share: float) -> SampleRatio:
    """Chi-square test of the users per arm against the treatment's configured ``share``."""
    if not 0 < share < 1:
        raise ValueError(f"treatment share must be in (0, 1), got {share}")
    total = control_users + treatment_users
    if total == 0:
        return SampleRatio(0, 0, share, float("nan"), False)
    expected = [total * (1 - share), total * share]
    p = float(stats.chisquare([control_users, treatment_users], expected).pvalue)
    return SampleRatio(control_users, treatment_users, share, p, p < SRM_ALPHA)


def experiment_report(
    units: pd.DataFrame, experiment: str, rule: OnlineTestSettings, share: float | None = None
) -> ExperimentReport:
    """Every metric of ``experiment`` compared across its arms, the SRM check, and the winner."""
    comparisons = []
    for metric in METRIC_COLUMNS:
        arms = arm_samples(units, experiment, metric)
        if metric == "revenue_per_user" and not has_prices(units, experiment):
            continue
        comparisons.append(compare(metric, arms["control"], arms["treatment"], rule))
    samples = arm_samples(units, experiment, rule.metric)
    srm = (
        sample_ratio(samples["control"].users, samples["treatment"].users, share)
        if share is not None
        else None
    )
    primary = next((c for c in comparisons if c.metric == rule.metric), None)
    return ExperimentReport(experiment, comparisons, srm, winner(primary, rule.alpha), rule.metric)


def winner(comparison: Comparison | None, alpha: float) -> contract.Arm | None:
    if comparison is None or not comparison.p_value < alpha:
        return None
    return "treatment" if comparison.treatment.value > comparison.control.value else "control"


def has_prices(units: pd.DataFrame, experiment: str) -> bool:
    return (
        bool(units.loc[units["experiment"] == experiment, "priced"].sum() > 0) if not units.empty else False
    )


def experiments(units: pd.DataFrame) -> list[str]:
    """The experiments the rows name, in order."""
    return sorted(units["experiment"].dropna().unique().tolist()) if not units.empty else []
