"""The search's validation split: carved out of the holdout's training part, the same kind of split.

The holdout (``pipeline.data.splits.holdout``) is either a time split (the test part is the last
``holdout_days`` days, one cutoff for everybody) or a random share of each user's pairs. The
parameter search must be judged the way the model will be, so its validation split repeats the
holdout's kind one step earlier, on the training part only:

``time``             the last ``validation_fraction`` of the training part's time span (from the
                     first event to the holdout's cutoff) is validation, what came before trains:
                     one global cutoff, so every validation event is later than every event the
                     search trains on, for every user. (A share, not ``holdout_days`` again: a
                     two-month log with a 30-day test period keeps a search training part.) Minimum-activity
                     thresholds apply to the search's training part, as the holdout applies them to
                     its own; the validation part keeps only pairs new to a known user, as the test
                     part does.
``random-per-user``  ``validation_fraction`` of each user's training items
                     (``splits.split_per_user``, seeded), the rest trains.

Neither ever reads an event of the holdout's test part. The search's best trials are then
fitted again on fresh splits (``confirm_folds``: other seeds' smaller shares of each user's
training items, random kind only), which carry none of the search's selection.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from pipeline.data.interactions import (
    EmptyInteractionsError,
    InteractionRules,
    Interactions,
    load_matrix,
    time_range,
)
from pipeline.data.splits import (
    SPLITS,
    Holdout,
    SplitError,
    SplitKind,
    holdout_cutoff,
    make_holdout,
    split_per_user,
)
from pipeline.settings import TuningSettings


def validation_cutoffs(
    con: duckdb.DuckDBPyConnection, holdout_days: int, validation_fraction: float
) -> tuple[datetime, datetime]:
    """(start, end) of a time split's validation period: the last ``validation_fraction`` of the
    time from the first event to the holdout's test period, which begins at ``end``."""
    end = holdout_cutoff(con, holdout_days)
    first, _ = time_range(con)
    return end - (end - first) * validation_fraction, end


def validation_fold(
    con: duckdb.DuckDBPyConnection,
    rules: InteractionRules,
    how: SplitKind,
    train: Interactions,
    holdout_days: int = 30,
    validation_fraction: float = 0.2,
    seed: int = 0,
) -> Holdout:
    """The search's (training, validation) split of ``train``, the training part of the warehouse's
    ``how`` holdout made with the same ``holdout_days``; ``validation_fraction`` sizes the
    validation part of either kind, ``seed`` draws the random kind."""
    if how not in SPLITS:
        raise SplitError(f"split must be one of {SPLITS}, got {how!r}")
    if how == "random-per-user":
        return split_per_user(train, validation_fraction, seed)
    start, end = validation_cutoffs(con, holdout_days, validation_fraction)
    try:
        searched = load_matrix(con, rules, until=start)
        later = load_matrix(con, rules.without_thresholds(), since=start, until=end)
    except EmptyInteractionsError as err:
        raise SplitError(
            f"time split: the search's validation period [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) "
            f"or the training before it holds no interactions ({err}): the search needs events before "
            f"the holdout's last holdout_days = {holdout_days} days"
        ) from err
    return make_holdout(searched, later)


def confirm_folds(how: SplitKind, train: Interactions, budget: TuningSettings) -> tuple[Holdout, ...]:
    """Fresh validation splits for the search's best trials (``budget.confirm_folds`` of them, each
    holding out ``budget.confirm_fraction`` of each user's items, seeds after the search's): for
    the random kind only; a time split has one validation period, so none. Each is drawn
    independently of the search's split, so its scores carry no winner's curse, and its smaller
    share trains on more of the data, as the final fit does."""
    if how != "random-per-user":
        return ()
    seeds = range(budget.seed + 1, budget.seed + 1 + budget.confirm_folds)
    return tuple(split_per_user(train, budget.confirm_fraction, seed) for seed in seeds)
