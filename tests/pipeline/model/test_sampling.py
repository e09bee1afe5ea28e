"""User samples: the search and the evaluation on a seeded share of many users, the gate still
judging, and the search's time budget a bound on running trials too."""

from __future__ import annotations

import time

import numpy as np
import optuna
import pytest

from pipeline.data.splits import split_per_user
from pipeline.model import evaluate, gate, report, sampling, train, tune
from pipeline.settings import ALSParams, PipelineSettings, TuningSettings
from tests.model_data import meta_for, pairs, synthetic_interactions

SMALL = tune.SearchSpace(factors=(4, 16), regularization=(1e-2, 10.0), alpha=(0.5, 10.0), iterations=(2, 6))
START = ALSParams(factors=8, regularization=1.0, alpha=2.0, iterations=3)


@pytest.fixture(scope="module")
def holdout():
    return split_per_user(synthetic_interactions(), 0.2, seed=0)


@pytest.fixture(scope="module")
def fitted(holdout):
    return train.fit(holdout.train, ALSParams(factors=16, regularization=5.0, alpha=5.0, iterations=8))


# --- the samples ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "cap"), [(10, None), (10, 10), (10, 11), (0, 5)])
def test_a_population_at_or_under_the_cap_is_kept_whole(n, cap):
    assert sampling.sample_rows(n, cap, seed=0) is None


def test_a_sample_is_seeded_sorted_distinct_and_of_the_cap():
    rows = sampling.sample_rows(1000, 100, seed=7)
    assert rows is not None and len(rows) == 100 and len(np.unique(rows)) == 100
    assert (np.diff(rows) > 0).all() and rows.min() >= 0 and rows.max() < 1000
    assert np.array_equal(rows, sampling.sample_rows(1000, 100, seed=7))
    assert not np.array_equal(rows, sampling.sample_rows(1000, 100, seed=8))


@pytest.mark.parametrize("cap", [0, -3])
def test_a_cap_under_one_is_refused_with_the_rule(cap):
    with pytest.raises(sampling.SamplingError, match=f"at least 1 .*got {cap}"):
        sampling.sample_rows(10, cap, seed=0)


def test_a_sampled_fold_keeps_each_kept_users_rows_and_every_item(holdout):
    fold = split_per_user(holdout.train, 0.2, seed=0)
    sample = sampling.sample_fold(fold, 100, seed=3)
    rows = sampling.sample_rows(fold.train.shape[0], 100, seed=3)
    assert sample.train.shape == (100, fold.train.shape[1])
    assert np.array_equal(sample.train.item_ids, fold.train.item_ids)
    assert np.array_equal(sample.train.user_ids, fold.train.user_ids[rows])
    assert pairs(sample.train.user_items) == pairs(fold.train.user_items[rows])
    assert pairs(sample.test) == pairs(fold.test[rows])  # validation rows still belong to their users
    assert sampling.sample_fold(fold, None, seed=3) is fold


# --- the search on a sample, and its time bound ----------------------------------------------------


def test_the_search_runs_on_the_sample_and_says_so(holdout):
    fitted_shapes = []
    real_fit = train.fit

    def spy(data, params, use_gpu=None, on_iteration=None):
        fitted_shapes.append(data.shape)
        return real_fit(data, params, use_gpu, on_iteration)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train, "fit", spy)
        record = tune.tune(holdout.train, TuningSettings(max_trials=2, max_users=150), 10, START, SMALL)
    assert record.sampled_users == 150
    confirmations = 2 * TuningSettings().confirm_folds  # both trials refitted on each fresh split
    assert fitted_shapes == [(150, holdout.train.shape[1])] * (2 + confirmations)
    whole = tune.tune(holdout.train, TuningSettings(max_trials=1, max_users=None), 10, START, SMALL)
    assert whole.sampled_users is None


def test_the_budget_stops_a_running_trial_once_one_has_completed():
    study = optuna.create_study(direction="maximize")
    first = study.ask()
    tune.budget_stop(first, deadline=time.perf_counter() - 1, done=2)  # nothing completed: runs on
    study.tell(first, 0.1)
    second = study.ask()
    tune.budget_stop(second, deadline=time.perf_counter() + 60, done=2)  # time left: runs on
    with pytest.raises(optuna.TrialPruned, match="time budget ran out after 4 iterations"):
        tune.budget_stop(second, deadline=time.perf_counter() - 1, done=4)
    assert second.user_attrs == {"iterations_run": 4, "stopped_by_budget": True}


def test_a_trial_past_the_deadline_ends_at_its_next_iteration(holdout):
    """The first trial completes whatever the budget; the next, given 40 iterations, stops after
    its first once the budget is spent, and is recorded as pruned with the iterations it ran."""
    long = START.model_copy(update={"iterations": 40})
    budget = TuningSettings(max_trials=2, max_seconds=1e-6)
    with pytest.MonkeyPatch.context() as patch:  # the study's callback would not start the second one
        patch.setattr(tune, "_stop_after", lambda deadline: lambda study, trial: None)
        record = tune.tune(holdout.train, budget, 10, START, SMALL, enqueue=(long,))
    first, second = record.trials
    assert first["state"] == "complete" and first["iterations_run"] == 3
    assert second["iterations"] == 40 and second["state"] == "pruned" and second["iterations_run"] == 1
    assert second["stopped_by_budget"] and not first["stopped_by_budget"]


# --- the evaluation on a sample, and the gate on it -------------------------------------------------


def test_the_evaluation_measures_a_seeded_sample_with_intervals(holdout, fitted):
    every = holdout.test_users
    cap = len(every) // 2
    result = evaluate.evaluate_candidate(fitted, holdout, 10, max_users=cap, seed=1)
    again = evaluate.evaluate_candidate(fitted, holdout, 10, max_users=cap, seed=1)
    whole = evaluate.evaluate_candidate(fitted, holdout, 10)
    assert result.sampled_from == len(every) and whole.sampled_from is None
    assert all(metrics["users"] == cap for metrics in result.overall.values())  # every list, same users
    assert result.overall == again.overall
    model, full = result.overall["model"], whole.overall["model"]
    assert model["ndcg@10_ci95"] > 0 and full["ndcg@10_ci95"] < model["ndcg@10_ci95"]
    assert abs(model["ndcg@10"] - full["ndcg@10"]) <= 2 * model["ndcg@10_ci95"]


def test_the_gate_still_refuses_a_bad_model_and_passes_a_good_one_on_a_sample(holdout, fitted):
    settings = PipelineSettings(min_lift_over_popular=0.05)
    bad = train.fit(holdout.train, ALSParams(factors=1, regularization=1000.0, alpha=0.01, iterations=1))
    cap = len(holdout.test_users) // 3
    judged = {}
    for name, model in (("good", fitted), ("bad", bad)):
        measured = evaluate.evaluate_candidate(model, holdout, 10, max_users=cap, seed=2)
        judged[name] = gate.decide(measured, settings, None)
    assert judged["good"].passed and not judged["bad"].passed
    assert "popular" in judged["bad"].reason


def test_the_report_says_what_was_sampled(holdout, fitted):
    cap = len(holdout.test_users) // 2
    measured = evaluate.evaluate_candidate(fitted, holdout, 10, max_users=cap, seed=1)
    searched = tune.TuningRecord(source="search", best=START, sampled_users=150, metric="ndcg@10")
    plots = {"metrics": "m.png", "slices": "s.png", "popularity": "p.png"}
    text = report.render_markdown(meta_for("v1", evaluation=measured, tuning=searched), [], plots)
    assert f"seeded sample of {cap:,} of the {len(holdout.test_users):,} held-out users" in text
    assert "Trials fitted on a seeded sample of 150 training users" in text
    whole = evaluate.evaluate_candidate(fitted, holdout, 10)
    assert "seeded sample" not in report.render_markdown(meta_for("v2", evaluation=whole), [], plots)
