"""The search space capped: the search never picks a fit costlier than the caps."""

from __future__ import annotations

import pytest

from pipeline.data.splits import split_per_user
from pipeline.model import search_cost, tune
from pipeline.settings import ALSParams, TuningSettings
from tests.model_data import synthetic_interactions


@pytest.mark.parametrize(
    ("bounds", "cap", "expected"),
    [((16, 256), None, (16, 256)), ((16, 256), 64, (16, 64)), ((5, 40), 3, (3, 3)), ((5, 40), 99, (5, 40))],
)
def test_a_range_is_capped_at_its_top_and_never_inverted(bounds, cap, expected):
    assert search_cost.capped_range(bounds, cap) == expected


def test_the_sampler_stays_within_the_caps():
    holdout = split_per_user(synthetic_interactions(), 0.2, seed=0)
    space = tune.SearchSpace(
        factors=(4, 16), regularization=(0.01, 10.0), alpha=(0.5, 10.0), iterations=(2, 8)
    )
    start = ALSParams(factors=8, regularization=1.0, alpha=2.0, iterations=3)
    budget = TuningSettings(max_trials=8, random_trials=5, max_factors=6, max_iterations=3)
    record = tune.tune(holdout.train, budget, 10, start, space)
    sampled = record.trials[3:]  # after the start and its two other scalings (8 factors, configured)
    assert len(sampled) == 5
    assert all(4 <= t["factors"] <= 6 and 2 <= t["iterations"] <= 3 for t in sampled)


def test_unset_caps_are_the_start_only_when_the_search_samples_many_users():
    start = ALSParams(factors=64, iterations=15)
    assert search_cost.caps(TuningSettings(), start, sampled=False) == (None, None)
    assert search_cost.caps(TuningSettings(), start, sampled=True) == (64, 15)
    set_caps = TuningSettings(max_factors=32, max_iterations=40)
    assert search_cost.caps(set_caps, start, sampled=True) == (32, 40)
    assert search_cost.caps(set_caps, start, sampled=False) == (32, 40)


def test_a_search_on_a_sample_tries_nothing_costlier_than_the_start():
    holdout = split_per_user(synthetic_interactions(), 0.2, seed=0)
    space = tune.SearchSpace(
        factors=(4, 16), regularization=(0.01, 10.0), alpha=(0.5, 10.0), iterations=(2, 8)
    )
    start = ALSParams(factors=6, regularization=1.0, alpha=2.0, iterations=3)
    users = holdout.train.shape[0]
    sampled = tune.tune(holdout.train, TuningSettings(max_trials=10, max_users=users // 2), 10, start, space)
    assert sampled.sampled_users == users // 2
    assert all(t["factors"] <= 6 and t["iterations"] <= 3 for t in sampled.trials)
    whole = tune.tune(holdout.train, TuningSettings(max_trials=10, max_users=None), 10, start, space)
    assert any(t["factors"] > 6 or t["iterations"] > 3 for t in whole.trials)  # the space's own bounds
