"""Tuning: the search never sees the test part, keeps to its budget, and is reused on schedule."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import scipy.sparse as sp

from pipeline.data import validation
from pipeline.data.interactions import Interactions
from pipeline.data.splits import split_per_user
from pipeline.model import train, tune
from pipeline.settings import ALSParams, TuningSettings
from tests.model_data import pairs, synthetic_interactions

SMALL = tune.SearchSpace(factors=(4, 16), regularization=(1e-2, 10.0), alpha=(0.5, 10.0), iterations=(2, 6))
START = ALSParams(factors=8, regularization=1.0, alpha=2.0, iterations=3)


@pytest.fixture(scope="module")
def holdout():
    return split_per_user(synthetic_interactions(), 0.2, seed=0)


def test_the_search_never_sees_the_test_part(holdout, monkeypatch):
    """Every matrix the search fits on and every validation matrix it scores on lies inside the
    training part; no held-out test pair reaches it."""
    fitted, folds = [], []
    real_fit, real_score = train.fit, tune.validation_metrics

    def spy_fit(data, params, use_gpu=None, on_iteration=None):
        fitted.append(data.user_items)
        return real_fit(data, params, use_gpu, on_iteration)

    def spy_score(model, fold, users, k):
        folds.append(fold)
        return real_score(model, fold, users, k)

    monkeypatch.setattr(train, "fit", spy_fit)
    monkeypatch.setattr(tune, "validation_metrics", spy_score)
    tune.tune(holdout.train, TuningSettings(max_trials=3, confirm_trials=3), 10, START, SMALL)

    test_pairs, train_pairs = pairs(holdout.test), pairs(holdout.train.user_items)
    assert len(fitted) == 3 + 3 * 3  # 3 trials, then the best 3 fitted again on 3 fresh splits
    for matrix in fitted:
        assert pairs(matrix).isdisjoint(test_pairs)
        assert pairs(matrix) < train_pairs  # a validation part was carved out of training
    for fold in folds:
        assert fold.test.nnz > 0
        assert pairs(fold.test) <= train_pairs and pairs(fold.test).isdisjoint(test_pairs)


def test_validation_items_come_from_the_training_part_only(holdout):
    fold = split_per_user(holdout.train, 0.2, seed=0)
    assert pairs(fold.test) <= pairs(holdout.train.user_items)
    assert pairs(fold.test).isdisjoint(pairs(holdout.test))


def test_budget_in_trials_and_the_winner_is_the_best_trial(holdout):
    budget = TuningSettings(max_trials=3, seed=5, confirm_trials=1)  # no second look: the top trial wins
    result = tune.tune(holdout.train, budget, 10, START, SMALL)
    assert [t["trial"] for t in result.trials] == [0, 1, 2]
    first = result.trials[0]
    assert (first["factors"], first["regularization"], first["alpha"], first["iterations"]) == (
        8,
        1.0,
        2.0,
        3,
    )
    best = max((t for t in result.trials if t["state"] == "complete"), key=lambda t: t["ndcg@10"])
    assert best["best"] and sum(t["best"] for t in result.trials) == 1
    assert result.best.factors == best["factors"] and result.best.regularization == best["regularization"]
    assert result.best.random_state == START.random_state
    assert result.model_dump()["best"]["factors"] == best["factors"]


def test_budget_in_seconds_stops_starting_trials(holdout):
    result = tune.tune(holdout.train, TuningSettings(max_trials=50, max_seconds=1e-6), 10, START, SMALL)
    assert len(result.trials) == 1  # the first trial always runs, no second one starts


def test_the_search_is_reproducible_with_a_seed_and_differs_with_another(holdout):
    def run(seed: int) -> list[tuple]:
        record = tune.tune(
            holdout.train, TuningSettings(max_trials=6, random_trials=3, seed=seed), 10, START, SMALL
        )
        return [(t["factors"], t["regularization"], t["alpha"], t["iterations"], t["scaling"], t["state"],
                 round(t["ndcg@10"], 6), round(t.get("confirm_ndcg@10", -1), 6), t["best"])
                for t in record.trials]  # fmt: skip

    first = run(3)
    assert len(first) == 6 and first == run(3)
    assert first[1:] != run(4)[1:]  # the first trial is the start for any seed
    assert all(4 <= t[0] <= 16 and 2 <= t[3] <= 6 and t[4] in ("linear", "log", "bm25") for t in first)


def test_pruning_stops_a_hopeless_trial_early(holdout):
    good = ALSParams(factors=16, regularization=1.0, alpha=5.0, iterations=12)
    hopeless = ALSParams(factors=1, regularization=1000.0, alpha=0.01, iterations=12)
    budget = TuningSettings(max_trials=3, random_trials=3, prune_after_trials=2)
    record = tune.tune(holdout.train, budget, 10, good, SMALL, enqueue=(good, hopeless))
    states = [(t["factors"], t["state"], t["iterations_run"]) for t in record.trials]
    assert states[:2] == [(16, "complete", 12), (16, "complete", 12)]
    assert states[2][:2] == (1, "pruned") and states[2][2] == 3  # scored after 3 of 12 iterations, stopped
    assert record.trials[2]["ndcg@10"] < record.trials[0]["ndcg@10"]
    assert record.best.factors == 16 and record.trials[2]["best_so_far"] == record.trials[0]["best_so_far"]


def test_each_trial_row_carries_state_time_and_best_so_far(holdout):
    record = tune.tune(holdout.train, TuningSettings(max_trials=4, random_trials=2), 10, START, SMALL)
    elapsed = [t["elapsed"] for t in record.trials]
    assert elapsed == sorted(elapsed) and all(t["seconds"] > 0 for t in record.trials)
    complete = [t["ndcg@10"] for t in record.trials if t["state"] == "complete"]
    assert record.trials[-1]["best_so_far"] == max(complete)
    assert [t["best_so_far"] for t in record.trials] == sorted(t["best_so_far"] for t in record.trials)


def test_tuning_refuses_data_without_validation_items():
    data = synthetic_interactions()
    m = data.user_items.tocsr()
    firsts = m.indptr[:-1][np.diff(m.indptr) > 0]  # keep one item per user: nothing to validate on
    coo = m.tocoo()
    keep = np.isin(np.arange(m.nnz), firsts)
    one_each = sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=m.shape)
    with pytest.raises(tune.TuningError, match="leaves no validation items"):
        tune.tune(Interactions(one_each, data.user_ids, data.item_ids), TuningSettings(), 10, START, SMALL)


def test_a_search_is_due_when_none_ran_it_is_old_or_the_start_changed():
    now = datetime(2026, 11, 22, tzinfo=UTC)
    recent = tune.TuningRecord(
        source="search", best=START, tuned_at=(now - timedelta(days=2)).isoformat(), start=START
    )
    assert tune.due(None, 7, START, now)
    assert not tune.due(recent, 7, START, now)
    assert tune.due(recent, 1, START, now)
    assert tune.due(recent, 0, START, now)
    assert tune.due(recent, 7, START.model_copy(update={"factors": 9}), now)


def test_choose_searches_reuses_or_keeps_the_configured_parameters(holdout):
    off = tune.choose(holdout.train, TuningSettings(enabled=False), 10, START, None)
    assert off == tune.TuningRecord(source="configured", best=START)

    searched = tune.choose(holdout.train, TuningSettings(max_trials=2), 10, START, None)
    assert searched.source == "search" and len(searched.trials) == 2 and searched.start == START

    last = ("20261122T000000Z-abcdef", searched)
    reused = tune.choose(holdout.train, TuningSettings(max_trials=2), 10, START, last)
    assert reused.source == "reused" and reused.from_version == "20261122T000000Z-abcdef"
    assert reused.best == searched.best and reused.trials == searched.trials


def test_the_tuned_model_beats_most_popular_on_the_test_part(holdout):
    evaluation, result = tune.tuned_evaluation(holdout, TuningSettings(max_trials=2), 10, START)
    assert evaluation.overall["model"]["ndcg@10"] > evaluation.overall["popular"]["ndcg@10"]
    assert len(result.trials) == 2


def test_the_search_scores_on_the_validation_split_it_is_given(holdout):
    """A given fold (a time split's, from pipeline.data.validation) replaces the random one: the
    first trial's score is the start parameters fitted on its training part, scored on its
    validation part."""
    fold = split_per_user(holdout.train, 0.4, seed=9)
    record = tune.tune(holdout.train, TuningSettings(max_trials=1), 10, START, SMALL, fold=fold)
    model = train.fit(fold.train, START)
    expected = tune.validation_metrics(model, fold, fold.test_users, 10)["ndcg@10"]
    default = tune.tune(holdout.train, TuningSettings(max_trials=1), 10, START, SMALL)
    assert record.trials[0]["ndcg@10"] == pytest.approx(expected)
    assert default.trials[0]["ndcg@10"] != pytest.approx(expected)


def test_the_first_trials_are_the_start_the_callers_points_then_the_start_with_each_other_scaling(holdout):
    extra = ALSParams(factors=12, regularization=0.5, alpha=1.0, iterations=2, scaling="log")
    record = tune.tune(
        holdout.train, TuningSettings(max_trials=4, seed=1), 10, START, SMALL, enqueue=(extra,)
    )
    points = [
        (t["factors"], t["regularization"], t["alpha"], t["iterations"], t["scaling"]) for t in record.trials
    ]
    assert points == [(8, 1.0, 2.0, 3, "linear"), (12, 0.5, 1.0, 2, "log"), (8, 1.0, 2.0, 3, "log"),
                      (8, 1.0, 2.0, 3, "bm25")]  # fmt: skip


def test_the_best_trials_are_refitted_on_fresh_splits_and_only_their_mean_decides(holdout):
    """Three rows whose search scores favour a weak point: the fresh splits' mean (real fits)
    decides, the search's own score (biased by the selection) does not add to it, and only the
    top confirm_trials are fitted again."""
    strong = dict(factors=16, regularization=1.0, alpha=5.0, iterations=8, scaling="linear")
    weak = dict(factors=1, regularization=1000.0, alpha=0.01, iterations=2, scaling="linear")
    rows = [{**weak, "ndcg@10": 0.9}, {**strong, "ndcg@10": 0.5}, {**strong, "ndcg@10": 0.1}]
    folds = (split_per_user(holdout.train, 0.1, seed=11), split_per_user(holdout.train, 0.1, seed=12))
    best = tune.confirmed_best(rows, folds, 2, 10, random_state=0)
    assert best is rows[1]
    scores = []
    for fold in folds:
        model = train.fit(fold.train, tune.trial_params(rows[1], 0))
        scores.append(tune.validation_metrics(model, fold, fold.test_users, 10)["ndcg@10"])
    assert rows[1]["confirm_ndcg@10"] == pytest.approx(np.mean(scores)) and "confirm_ndcg@10" not in rows[2]
    assert rows[0]["confirm_ndcg@10"] < rows[1]["confirm_ndcg@10"]
    assert tune.confirmed_best(rows, (), 3, 10, random_state=0) is rows[0]  # a time split: one look
    past = time.perf_counter() - 1  # the search's time is up: no refit starts, the top trial wins
    fresh = [{k: v for k, v in row.items() if k != "confirm_ndcg@10"} for row in rows]
    assert tune.confirmed_best(fresh, folds, 2, 10, random_state=0, deadline=past) is fresh[0]
    assert not any("confirm_ndcg@10" in row for row in fresh)
    assert tune.confirmed_best(rows, folds, 1, 10, random_state=0) is rows[0]  # confirmation off


def test_a_lucky_score_on_the_search_split_does_not_win_over_a_sound_one(holdout):
    """The winner's curse, built: the search split's score of a weak point is inflated far above a
    sound point's; with confirmation the sound one is served, without it the lucky one."""
    sound = ALSParams(factors=16, regularization=1.0, alpha=5.0, iterations=8)
    lucky = ALSParams(factors=1, regularization=1000.0, alpha=0.01, iterations=2)
    rows = [{**lucky.model_dump(), "ndcg@10": 0.99, "state": "complete"},
            {**sound.model_dump(), "ndcg@10": 0.2, "state": "complete"}]  # fmt: skip
    budget = TuningSettings()
    folds = validation.confirm_folds("random-per-user", holdout.train, budget)
    assert tune.trial_params(
        tune.confirmed_best(rows, folds, budget.confirm_trials, 10, 0), 0
    ) == sound.model_copy(update={"random_state": 0})


def test_a_search_confirms_its_best_trials_on_fresh_splits(holdout):
    record = tune.tune(holdout.train, TuningSettings(max_trials=5, confirm_trials=3), 10, START, SMALL)
    confirmed = [t for t in record.trials if "confirm_ndcg@10" in t]
    assert len(confirmed) == 3 and all(t["state"] == "complete" for t in confirmed)
    ranked = sorted((t for t in record.trials if t["state"] == "complete"), key=lambda t: -t["ndcg@10"])
    assert confirmed == sorted(ranked[:3], key=lambda t: t["trial"])  # the search's top 3, no other
    winner = next(t for t in record.trials if t["best"])
    assert winner["confirm_ndcg@10"] == max(t["confirm_ndcg@10"] for t in confirmed)


def test_a_search_on_a_given_fold_confirms_only_on_the_folds_it_is_given(holdout):
    """A time split's search (a fold given, no fresh splits) keeps its top trial; the random kind's
    default folds are not drawn behind the caller's back."""
    fold = split_per_user(holdout.train, 0.3, seed=9)
    record = tune.tune(holdout.train, TuningSettings(max_trials=4), 10, START, SMALL, fold=fold)
    assert not any("confirm_ndcg@10" in t for t in record.trials)
    top = max((t for t in record.trials if t["state"] == "complete"), key=lambda t: t["ndcg@10"])
    assert top["best"]


def test_the_confirmation_refits_fall_inside_the_searchs_time(holdout):
    """``max_seconds`` bounds the whole search: out of time, no refit starts and the top trial wins."""
    record = tune.tune(holdout.train, TuningSettings(max_trials=50, max_seconds=0.01), 10, START, SMALL)
    assert len(record.trials) == 1  # the first trial always runs, then the time is up
    assert "confirm_ndcg@10" not in record.trials[0] and record.trials[0]["best"]
