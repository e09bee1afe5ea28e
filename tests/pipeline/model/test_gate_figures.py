"""The gate's figures, exactly: the lift over popular and the drop below the served version are
relative (``popular x (1 + lift)``, ``published x (1 - tolerance)``), and each check keeps them."""

from __future__ import annotations

import pytest

from pipeline.model import gate
from pipeline.model.evaluate import Evaluation
from pipeline.settings import PipelineSettings


@pytest.mark.parametrize(
    ("model", "popular", "min_lift", "needed", "passed"),
    [
        (0.20, 0.10, 0.5, 0.15, True),  # +50% of 0.10 is 0.15: 0.20 clears it (0.10 + 0.5 would not)
        (0.20, 0.50, -0.5, 0.25, False),  # -50% of 0.50 is 0.25: 0.20 misses it (0.50 - 0.5 would not)
        (0.30, 0.20, 0.5, 0.30, False),  # equal is not a lift: the model must beat the bar
        (0.31, 0.20, 0.5, 0.30, True),
        (0.20, 0.10, 0.0, 0.10, True),
    ],
)
def test_the_lift_over_popular_is_relative(model, popular, min_lift, needed, passed):
    decision = gate.quality_gate({"ndcg@10": model}, {"ndcg@10": popular}, 10, min_lift)
    (check,) = decision.checks
    assert (check.value, check.needed, check.passed, decision.passed) == (
        model,
        pytest.approx(needed),
        passed,
        passed,
    )


@pytest.mark.parametrize(
    ("model", "published", "tolerance", "needed", "passed"),
    [
        (0.19, 0.20, 0.10, 0.18, True),  # 10% below 0.20 is 0.18: 0.19 is within it
        (0.17, 0.20, 0.10, 0.18, False),
        (0.20, 0.25, 0.20, 0.20, True),  # exactly at the tolerance still passes
        (0.20, 0.40, 0.45, 0.22, False),  # 45% of 0.40 is 0.18 of drop: 0.22 needed (0.40 - 0.45 would pass)
    ],
)
def test_the_drop_below_the_published_version_is_relative(model, published, tolerance, needed, passed):
    decision = gate.quality_gate(
        {"ndcg@10": model}, {"ndcg@10": 0.01}, 10, 0.0, {"ndcg@10": published}, tolerance, "v1"
    )
    beats, within = decision.checks
    assert beats.passed
    assert (within.needed, within.passed, decision.passed) == (pytest.approx(needed), passed, passed)


def test_a_passing_decision_states_both_bars():
    decision = gate.quality_gate({"ndcg@10": 0.3}, {"ndcg@10": 0.1}, 10, 0.5, {"ndcg@10": 0.31}, 0.1, "v1")
    assert decision.passed
    assert (
        decision.reason == "ndcg@10 0.3000 passes: > popular 0.1000 x 1.50 and >= published v1 0.3100 x 0.90"
    )
    assert [c.name for c in decision.checks] == ["beats popular by 50%", "within 10% of published v1"]


def test_decide_takes_the_bars_from_the_settings_and_k_from_the_evaluation():
    evaluation = Evaluation(
        k=5,
        ks=[5],
        overall={
            "model": {"ndcg@5": 0.20, "ndcg@10": 0.99},
            "popular": {"ndcg@5": 0.10, "ndcg@10": 0.0},
            "published": {"ndcg@5": 0.25, "ndcg@10": 0.0},
        },
    )
    settings = PipelineSettings(table_name="t-gate", min_lift_over_popular=0.5, max_drop_vs_published=0.25)
    decision = gate.headline_gate(evaluation, settings, "v0")  # decide's first checks
    assert [(c.needed, c.passed) for c in decision.checks] == [
        (pytest.approx(0.15), True),
        (pytest.approx(0.1875), True),
    ]
    stricter = settings.model_copy(update={"max_drop_vs_published": 0.1})
    refused = gate.headline_gate(evaluation, stricter, "v0")
    assert not refused.passed
    assert (
        refused.reason
        == "ndcg@5 0.2000 is more than 10% below the published version v0 (0.2500) on the same holdout"
    )


def test_without_a_tolerance_any_drop_below_the_published_version_is_refused():
    decision = gate.quality_gate({"ndcg@10": 0.199}, {"ndcg@10": 0.1}, 10, 0.0, {"ndcg@10": 0.2})
    assert [(c.needed, c.passed) for c in decision.checks] == [(0.1, True), (0.2, False)]


def test_a_published_version_without_a_name_is_named_plainly():
    decision = gate.quality_gate({"ndcg@10": 0.3}, {"ndcg@10": 0.1}, 10, 0.0, {"ndcg@10": 0.3}, 0.05)
    assert [c.name for c in decision.checks] == ["beats popular by 0%", "within 5% of published"]


def test_both_failures_are_stated_in_one_reason():
    decision = gate.quality_gate({"ndcg@10": 0.1}, {"ndcg@10": 0.2}, 10, 0.0, {"ndcg@10": 0.4}, 0.1, "v1")
    assert decision.reason == (
        "ndcg@10 0.1000 does not beat the popularity baseline 0.2000 by the required 0%; "
        "ndcg@10 0.1000 is more than 10% below the published version v1 (0.4000) on the same holdout"
    )
