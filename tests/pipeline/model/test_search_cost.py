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
