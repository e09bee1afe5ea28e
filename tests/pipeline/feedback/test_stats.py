"""Experiment statistics: A/A declares no winner beyond alpha, a real lift is found, the SRM check
and the power warning say what they should."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.feedback.stats import compare, experiment_report, sample_ratio
from pipeline.settings import OnlineTestSettings
from tests.pipeline.feedback.population import arm, unit_rows

RULE = OnlineTestSettings()


def test_an_a_a_experiment_declares_a_winner_in_alpha_of_its_runs():
    seeds = 2000
    winners = 0
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        found = compare("ctr", arm(rng, 200), arm(rng, 200), RULE)
        winners += found.p_value < RULE.alpha
    rate = winners / seeds
    # alpha +- 3 standard errors of a rate over 2000 runs (0.0049)
    assert 0.035 <= rate <= 0.065, rate


def test_an_a_a_experiment_through_the_report_has_no_winner():
    rng = np.random.default_rng(7)
    units = unit_rows(
        "aa", {"control": arm(rng, 500), "treatment": arm(rng, 500)}, {"control": "v1", "treatment": "v1"}
    )
    report = experiment_report(units, "aa", RULE, share=0.5)
    assert report.winner is None
    assert report.sample_ratio is not None and not report.sample_ratio.mismatch
    assert [c.metric for c in report.comparisons] == ["ctr", "conversion"]  # no prices: no revenue


def test_a_clearly_better_treatment_wins_with_its_lift():
    rng = np.random.default_rng(1)
    units = unit_rows("ab", {"control": arm(rng, 3000), "treatment": arm(rng, 3000, lift=0.3)},
                      {"control": "v1", "treatment": "v2"})  # fmt: skip
    rule = OnlineTestSettings(min_detectable_lift=0.1)  # 3,000 users an arm see about 7%
    report = experiment_report(units, "ab", rule, share=0.5)
    (ctr,) = [c for c in report.comparisons if c.metric == "ctr"]
    assert report.winner == "treatment" and ctr.p_value < 1e-6
    assert ctr.lift_low < 0.3 < ctr.lift_high and ctr.lift == pytest.approx(0.3, abs=0.08)
    assert ctr.warning is None and 0.05 < ctr.detectable_lift < 0.1


def test_a_small_sample_warns_that_it_cannot_see_the_minimum_effect():
    rng = np.random.default_rng(2)
    found = compare("ctr", arm(rng, 40), arm(rng, 40), RULE)
    assert found.warning is not None and found.warning.startswith(
        "sample too small: 40 + 40 users detect a lift of"
    )
    assert found.detectable_lift > 0.2


def test_the_sample_ratio_check():
    assert not sample_ratio(5000, 5000, 0.5).mismatch
    assert not sample_ratio(9000, 1000, 0.1).mismatch
    found = sample_ratio(5300, 4700, 0.5)  # 3 points off on 10,000 users: broken bucketing
    assert found.mismatch and found.p_value < 1e-6
    with pytest.raises(ValueError, match=r"treatment share must be in \(0, 1\), got 1.5"):
        sample_ratio(1, 1, 1.5)


def test_an_experiment_with_no_users_in_an_arm_has_no_winner_and_warns():
    rng = np.random.default_rng(3)
    units = unit_rows("e", {"control": arm(rng, 50)}, {"control": "v1"})
    report = experiment_report(units, "e", RULE, share=0.5)
    assert report.winner is None and report.comparisons[0].warning is not None
    assert report.sample_ratio is not None and report.sample_ratio.mismatch
