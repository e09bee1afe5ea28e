"""``recs replay --simulate``: simulated users close the loop on the local AWS, and the online
comparison tells a good model from a weak one (an A/B experiment's winner, a canary's rollback).

The two simulations are slow (a moto server, the template's stack, three nightly runs and a
uvicorn API each): they run in ``make test-slow``, which CI runs after ``make test``.
"""

from __future__ import annotations

import pytest

from infra.local.simulate import NO_ARM, Simulation, SimulationError, run_simulation

SMALL = {"users": 300, "items": 200, "history_events": 20_000, "history_days": 10}


def assert_the_join_found_every_answer(result) -> None:
    """The nightly's join measured exactly what the simulated users did: every answer an
    impression of its arm, every answer with a view a click-through."""
    for arm, tally in result.totals.items():
        measured = result.measured[arm]
        assert measured["impressions"] == tally.answers, arm
        assert measured["users"] == len(tally.users), arm
        assert measured["ctr"] == pytest.approx(tally.clicked / tally.answers, abs=1e-4), arm
    assert all(day.errors == 0 for day in result.days)


@pytest.mark.slow
def test_a_clearly_better_model_wins_its_experiment_with_significance(tmp_path, prefect_harness):
    result = run_simulation(Simulation(days=1, seed=3, **SMALL), tmp_path / "sim", echo=lambda line: None)

    assert result.better_arm == "treatment"
    primary = next(c for c in result.report.comparisons if c.metric == "ctr")
    assert result.report.winner == "treatment" and primary.p_value < 0.001
    assert primary.lift > 0.1 and primary.lift_low > 0  # the interval excludes no lift
    assert result.report.sample_ratio is not None and not result.report.sample_ratio.mismatch
    # the experiment ran through the day (the nightly kept its model, published nothing), then
    # the simulation stopped it and promoted the winner: the good model is served
    (day,) = result.days
    assert not day.published and "experiment sim-ab is running" in day.nightly
    assert set(day.arms) == {"control", "treatment"}
    assert result.experiment.promoted == "treatment" and not result.experiment.running
    assert result.serving == result.experiment.treatment
    assert result.outcome == "experiment sim-ab treatment promoted"
    assert_the_join_found_every_answer(result)


@pytest.mark.slow
def test_a_clearly_worse_canary_is_rolled_back_by_the_nightly(tmp_path, prefect_harness):
    result = run_simulation(
        Simulation(days=2, scenario="canary", seed=4, **SMALL), tmp_path / "sim", echo=lambda line: None
    )

    canary = result.experiment
    assert result.better_arm == "control" and canary.kind == "canary"
    first, second = result.days
    # the first nightly after the canary's users answered rolled it back, at its first look
    assert first.experiment == f"canary {canary.name} rolled back"
    assert canary.promoted == "control" and not canary.running
    assert result.report.winner == "control"
    # and went on as usual: a new version published over the control, never the weak canary
    assert first.published and first.serving not in (canary.treatment, canary.control)
    assert set(second.arms) == {NO_ARM} and second.serving != canary.treatment
    assert_the_join_found_every_answer(result)


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"days": 0}, "days must be 1 to 60, got 0"),
        ({"days": 1, "share": 1.0}, "share must be a number strictly between 0 and 1, got 1.0"),
        ({"days": 1, "scenario": "bandit"}, "scenario must be experiment or canary, got 'bandit'"),
        ({"days": 1, "users": 3}, "users must be 50 to 100,000, got 3"),
    ],
)
def test_a_simulation_asked_wrongly_names_the_rule(fields, rule):
    with pytest.raises(SimulationError, match=rule):
        Simulation(**fields)
