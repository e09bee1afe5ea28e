"""The canary's rule: few false rollbacks however often it is looked at, a worse canary rolled
back early, a good one promoted at its horizon."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.feedback.canary import canary_decision, final_alpha
from pipeline.feedback.stats import ArmSample
from pipeline.settings import OnlineTestSettings
from tests.pipeline.feedback.population import arm

RULE = OnlineTestSettings()


def grown(parts: list[ArmSample], days: int) -> ArmSample:
    """The users of the first ``days`` days together."""
    return ArmSample(np.concatenate([p.y for p in parts[:days]]), np.concatenate([p.x for p in parts[:days]]))


def run_canary(
    seed: int, lift: float, days: int = RULE.canary_max_looks, per_day: int = 60
) -> tuple[str, int]:
    """A canary looked at every day until its horizon: (its last action, the day it was taken)."""
    rng = np.random.default_rng(seed)
    control = [arm(rng, per_day) for _ in range(days)]
    treatment = [arm(rng, per_day, lift=lift) for _ in range(days)]
    for day in range(1, days + 1):
        decision = canary_decision(grown(control, day), grown(treatment, day), day / days, day, RULE)
        if decision.action != "wait":
            return decision.action, day
    return "wait", days


def test_repeated_looks_roll_back_at_most_alpha_of_a_a_canaries():
    seeds = 600
    actions = [run_canary(seed, lift=0.0)[0] for seed in range(seeds)]
    false_rollbacks = actions.count("rollback") / seeds
    # at most alpha (0.05), within 2 standard errors of a rate over 600 runs (0.009)
    assert false_rollbacks <= RULE.alpha + 0.018, false_rollbacks
    assert actions.count("promote") + actions.count("rollback") == seeds


def test_a_naive_repeated_five_percent_test_would_roll_back_far_more():
    """Why the rule exists: a one-sided 5% test at each of the 14 looks, on the same A/A canaries."""
    naive = OnlineTestSettings(canary_interim_alpha=0.0499, canary_max_looks=1, alpha=0.05)
    rollbacks = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        control, treatment = [arm(rng, 60) for _ in range(14)], [arm(rng, 60) for _ in range(14)]
        rollbacks += any(
            canary_decision(grown(control, d), grown(treatment, d), 0.5, 1, naive).action == "rollback"
            for d in range(1, 15)
        )
    assert rollbacks / 300 > 2 * RULE.alpha


def test_a_clearly_worse_canary_is_rolled_back_before_its_horizon():
    results = [run_canary(seed, lift=-0.4) for seed in range(20)]
    assert all(action == "rollback" for action, _ in results)
    assert np.median([day for _, day in results]) < RULE.canary_max_looks


def test_a_better_canary_is_promoted_at_its_horizon():
    assert [run_canary(seed, lift=0.2) for seed in range(10)] == [("promote", RULE.canary_max_looks)] * 10


def test_waits_while_too_few_users_or_past_the_interim_looks():
    rng = np.random.default_rng(0)
    few = canary_decision(arm(rng, 10), arm(rng, 10, lift=-0.9), 2.0, 3, RULE)
    assert few.action == "wait" and few.reason.startswith(
        "10 users in the smaller arm, fewer than canary_min_users"
    )
    assert few.reason.endswith("; extend the canary")
    late = canary_decision(arm(rng, 500), arm(rng, 500, lift=-0.9), 0.9, RULE.canary_max_looks + 1, RULE)
    assert late.action == "wait" and "past canary_max_looks" in late.reason
    with pytest.raises(ValueError, match="look must be 1 or more"):
        canary_decision(arm(rng, 500), arm(rng, 500), 0.5, 0, RULE)


def test_the_final_look_gets_what_the_interim_looks_leave():
    assert final_alpha(RULE) == pytest.approx(0.05 - 14 * 0.001)
    with pytest.raises(ValueError, match="must stay under alpha"):
        OnlineTestSettings(canary_max_looks=60, canary_interim_alpha=0.001)
