"""The quality gate: its rules, and in the real flow a worse model is refused while the old one serves."""

from __future__ import annotations

import pytest

from pipeline.model import gate

MODEL = {"ndcg@10": 0.20}


@pytest.mark.parametrize(
    ("popular", "min_lift", "published", "tolerance", "passed", "reason"),
    [
        ({"ndcg@10": 0.10}, 0.0, None, 0.0, True, "ndcg@10 0.2000 passes: > popular 0.1000 x 1.00"),
        (
            {"ndcg@10": 0.10},
            1.5,
            None,
            0.0,
            False,
            "does not beat the popularity baseline 0.1000 by the required 150%",
        ),
        ({"ndcg@10": 0.20}, 0.0, None, 0.0, False, "does not beat the popularity baseline"),
        ({"ndcg@10": 0.10}, 0.0, {"ndcg@10": 0.204}, 0.05, True, "and >= published v1 0.2040 x 0.95"),
        (
            {"ndcg@10": 0.10},
            0.0,
            {"ndcg@10": 0.25},
            0.05,
            False,
            "more than 5% below the published version v1 (0.2500)",
        ),
    ],
)
def test_gate_rules(popular, min_lift, published, tolerance, passed, reason):
    decision = gate.quality_gate(MODEL, popular, 10, min_lift, published, tolerance, "v1")
    assert decision.passed is passed
    assert reason in decision.reason
    assert len(decision.checks) == (1 if published is None else 2)


def test_both_failures_are_named():
    decision = gate.quality_gate(MODEL, {"ndcg@10": 0.3}, 10, 0.0, {"ndcg@10": 0.4}, 0.0, "v1")
    assert not decision.passed and [c.passed for c in decision.checks] == [False, False]
    assert "popularity baseline" in decision.reason and "published version v1" in decision.reason
