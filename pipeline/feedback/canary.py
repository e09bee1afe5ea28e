"""The canary's decision: promote, roll back, or wait, from the users each arm has served so far.

A canary is an experiment of the new version (treatment) against the served one (control) that
runs for a set time, its horizon. It is looked at again and again (every nightly, every ``recs
experiment check``), and every look is a chance to roll back a version that is in fact as good:
looking often with a fixed 5% test would roll back far more than 5% of good canaries. The rule
(Haybittle-Peto, with the final look corrected):

- before the horizon, a look rolls back only when the treatment is worse with one-sided
  p < ``canary_interim_alpha`` (0.001); otherwise it waits. At most ``canary_max_looks`` interim
  looks may roll back; later ones before the horizon only wait;
- at the horizon, the canary is rolled back when it is worse with one-sided
  p < ``alpha - canary_max_looks x canary_interim_alpha``, and promoted otherwise (not worse);
- with fewer than ``canary_min_users`` users in either arm, it waits.

So whatever the number of looks, the chance of rolling back a canary no worse than the served
version is at most ``canary_max_looks x canary_interim_alpha + (alpha - canary_max_looks x
canary_interim_alpha) = alpha`` (a union bound over the looks that may roll back;
tests/pipeline/feedback/test_canary.py measures it on A/A canaries). Higher is better for every
metric (click-through, conversion, revenue per user), so "worse" is one-sided, downwards.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from pipeline.feedback.metrics import ratio
from pipeline.feedback.stats import ArmSample, welch
from pipeline.settings import OnlineTestSettings

Action = Literal["promote", "rollback", "wait"]


@dataclass(frozen=True)
class CanaryDecision:
    action: Action
    reason: str
    p_worse: float | None  # one-sided p of "the treatment is worse"; None before a test ran
    threshold: float | None  # the p under which this look rolls back
    look: int
    at_horizon: bool

    def as_dict(self) -> dict:
        return asdict(self)


def final_alpha(rule: OnlineTestSettings) -> float:
    """What the horizon's look may spend: alpha less what the interim looks may have spent."""
    return rule.alpha - rule.canary_max_looks * rule.canary_interim_alpha


def p_worse(control: ArmSample, treatment: ArmSample) -> float:
    """One-sided p-value of "the treatment's metric is lower", Welch's t over users."""
    c, t = ratio(control.y, control.x), ratio(treatment.y, treatment.x)
    statistic, two_sided = welch(c, t)
    if statistic != statistic:  # nan: no variance to test with (every user alike)
        return 0.0 if t.value < c.value else 1.0
    return two_sided / 2 if statistic < 0 else 1 - two_sided / 2


def canary_decision(
    control: ArmSample, treatment: ArmSample, elapsed: float, look: int, rule: OnlineTestSettings
) -> CanaryDecision:
    """Decide at interim look number ``look`` (1-based), ``elapsed`` of the canary's time gone
    (1 or more: the horizon)."""
    if look < 1 or elapsed < 0:
        raise ValueError(f"look must be 1 or more and elapsed 0 or more, got look={look}, elapsed={elapsed}")
    horizon = elapsed >= 1
    fewest = min(control.users, treatment.users)
    if fewest < rule.canary_min_users:
        reason = f"{fewest} users in the smaller arm, fewer than canary_min_users ({rule.canary_min_users})"
        return CanaryDecision(
            "wait", reason + ("; extend the canary" if horizon else ""), None, None, look, horizon
        )
    if not horizon and look > rule.canary_max_looks:
        reason = (
            f"interim look {look} is past canary_max_looks ({rule.canary_max_looks}): judged at the horizon"
        )
        return CanaryDecision("wait", reason, None, None, look, horizon)
    p = p_worse(control, treatment)
    threshold = final_alpha(rule) if horizon else rule.canary_interim_alpha
    if p < threshold:
        reason = f"the canary is worse on {rule.metric}: one-sided p={p:.2g} < {threshold:.2g}"
        return CanaryDecision("rollback", reason, p, threshold, look, horizon)
    if horizon:
        reason = f"the canary is not worse on {rule.metric} at its horizon: p={p:.2g} >= {threshold:.2g}"
        return CanaryDecision("promote", reason, p, threshold, look, horizon)
    reason = f"not significantly worse yet (p={p:.2g} >= {threshold:.2g}); judged again later"
    return CanaryDecision("wait", reason, p, threshold, look, horizon)
