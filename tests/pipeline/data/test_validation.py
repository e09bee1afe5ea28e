"""The search's validation split: the same kind of split as the holdout, out of its training part."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline.data import splits, validation
from pipeline.data.interactions import InteractionRules
from pipeline.settings import TuningSettings
from tests.pipeline.data.logs import T0, WEIGHTS, log
from tests.pipeline.data.test_splits import id_pairs

RULES = InteractionRules(WEIGHTS)


@pytest.fixture
def daily(load):
    """100 days: user u<n> views item i<(n + d) % 30> on every day d (and a late newcomer)."""
    rows = [(f"u{u}", f"i{(u + d) % 30}", "view", d) for u in range(12) for d in range(100)]
    return load(log(*rows, ("late", "i0", "view", 95)))


def first_seen(frame_rows: list[tuple]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for user, item, _, day in frame_rows:
        out[(user, item)] = min(day, out.get((user, item), day))
    return out


def test_time_fold_is_globally_later_than_the_searchs_training_and_before_the_test_period(load):
    rows = [(f"u{u}", f"i{(u * 3 + d) % 40}", "view", d) for u in range(10) for d in range(0, 100, 3)]
    con = load(log(*rows))
    held = splits.holdout(con, RULES, "time", holdout_days=20)
    fold = validation.validation_fold(
        con, RULES, "time", held.train, holdout_days=20, validation_fraction=0.25
    )
    start, end = validation.validation_cutoffs(con, 20, 0.25)
    # the last event is day 99: the test period starts at day 79, validation is the last quarter before
    assert (end, start) == (T0 + timedelta(days=79), T0 + timedelta(days=79 - 79 * 0.25))
    seen = first_seen(rows)
    last_seen = {}
    for user, item, _, day in rows:
        last_seen[(user, item)] = max(day, last_seen.get((user, item), day))
    trained, validated = id_pairs(fold.train.user_items, fold.train), id_pairs(fold.test, fold.train)
    # every pair the search trains on was first seen before the validation period; its events too
    assert trained == {p for p, d in seen.items() if T0 + timedelta(days=d) < start}
    # validation: pairs new in [start, end), for users and items the search's training part knows
    assert validated == {
        (u, i)
        for (u, i), d in seen.items()
        if start <= T0 + timedelta(days=d) < end
        and u in set(fold.train.user_ids)
        and i in set(fold.train.item_ids)
    }
    assert validated and not trained & validated
    # nothing of the holdout's test part reaches the search
    test_pairs = id_pairs(held.test, held.train)
    assert not test_pairs & (trained | validated)
    assert all(T0 + timedelta(days=seen[p]) < end for p in trained | validated)


def test_time_fold_trains_on_weights_before_the_validation_period_only(daily):
    held = splits.holdout(daily, RULES, "time", holdout_days=10)
    fold = validation.validation_fold(
        daily, RULES, "time", held.train, holdout_days=10, validation_fraction=0.2
    )
    start, _ = validation.validation_cutoffs(daily, 10, 0.2)
    days_before = (start - T0).days + (1 if start > T0 + timedelta(days=(start - T0).days) else 0)
    # u0 viewed i<d % 30> on day d: each item once per 30 days, before the validation period only
    row = list(fold.train.user_ids).index("u0")
    weights = dict(
        zip(
            fold.train.item_ids[fold.train.user_items[row].indices],
            fold.train.user_items[row].data,
            strict=True,
        )
    )
    expected = {f"i{i}": float(len(range(i, days_before, 30))) for i in range(30) if i < days_before}
    assert weights == expected
    assert "late" not in set(fold.train.user_ids)  # first seen in the test period


def test_random_fold_is_the_seeded_per_user_split_of_the_training_part(daily):
    held = splits.holdout(daily, RULES, "random-per-user", test_fraction=0.2, seed=1)
    fold = validation.validation_fold(
        daily, RULES, "random-per-user", held.train, validation_fraction=0.3, seed=4
    )
    same = splits.split_per_user(held.train, 0.3, seed=4)
    assert (fold.train.user_items != same.train.user_items).nnz == 0 and (fold.test != same.test).nnz == 0
    assert not id_pairs(fold.test, fold.train) & id_pairs(held.test, held.train)


def test_time_fold_without_events_before_the_validation_period_is_refused(load):
    con = load(log(("a", "x", "view", 0), ("a", "y", "view", 40)))
    held = splits.holdout(con, RULES, "time", holdout_days=30)
    with pytest.raises(
        splits.SplitError, match=r"the search needs events before the holdout's last holdout_days = 30"
    ):
        validation.validation_fold(con, RULES, "time", held.train, holdout_days=30, validation_fraction=0.99)


def test_unknown_kind_is_refused(daily):
    held = splits.holdout(daily, RULES, "random-per-user")
    with pytest.raises(splits.SplitError, match=r"split must be one of .* got 'kfold'"):
        validation.validation_fold(daily, RULES, "kfold", held.train)  # type: ignore[arg-type]


def test_fresh_splits_for_the_best_trials_are_other_seeds_smaller_shares_or_none_for_time(daily):
    held = splits.holdout(daily, RULES, "random-per-user", test_fraction=0.2, seed=1)
    budget = TuningSettings(seed=4, validation_fraction=0.3, confirm_folds=2, confirm_fraction=0.15)
    folds = validation.confirm_folds("random-per-user", held.train, budget)
    assert len(folds) == 2
    for fold, seed in zip(folds, (5, 6), strict=True):
        assert (fold.test != splits.split_per_user(held.train, 0.15, seed=seed).test).nnz == 0
    search = splits.split_per_user(held.train, 0.3, seed=4)  # the search's own split
    assert all((fold.test != search.test).nnz > 0 for fold in folds)
    assert (folds[0].test != folds[1].test).nnz > 0
    assert folds[0].test.nnz < search.test.nnz  # a smaller share: the refit trains on more
    assert id_pairs(folds[0].test, held.train) <= id_pairs(held.train.user_items, held.train)
    assert validation.confirm_folds("time", held.train, budget) == ()
