"""Tune: an Optuna search over ALS parameters, on training data only.

The search sees one ``Interactions``, the training part of a holdout, and a validation split
carved out of it with the same kind of split as the holdout (``pipeline.data.validation``: a
time split's validation part is the period just before the test period; a random split's a
seeded share of each user's items; without one it makes the random kind). It never receives
the test part, so the test metrics of the winner stay honest.

How: Optuna's TPE sampler (seeded, multivariate) proposes factors, regularization, alpha
(log scales), iterations and the confidence scaling (``pipeline.model.scaling``: linear, log,
BM25); the first trials are the configured parameters, then the same with each other scaling
(``anchors``), so the winner is never worse on validation than not tuning and the scaling,
which matters most, is compared at a sound point before the sampler starts. During each fit
implicit's callback scores the validation split every few iterations and reports it to the
trial; the median pruner stops a trial whose score lies below the median of earlier trials at
the same iteration, which frees the budget for promising ones: ``max_trials`` trials and
``max_seconds``, after which no trial starts and a running one stops at its next iteration
(``budget_stop``). With more training users than ``max_users`` the search fits and scores a
seeded sample of them (``pipeline.model.sampling``). The search's score then only chooses which
trials are confirmed: the best ``confirm_trials`` are fitted again on fresh validation splits and
the best mean there wins (``confirmed_best``). Every trial, pruned or not, goes into the
``TuningRecord`` with its score, state and time, so the artifact and the report show the
search. On a terminal one progress bar over trials shows the best score so far; in logs there
is one line per trial.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import optuna
from pydantic import BaseModel, ConfigDict, Field

from pipeline.data import validation
from pipeline.data.interactions import Interactions
from pipeline.data.splits import Holdout, split_per_user
from pipeline.errors import PipelineError
from pipeline.model import evaluate, sampling, search_cost, train
from pipeline.model.metrics import ranking_metrics
from pipeline.model.scaling import SCALINGS
from pipeline.precompute import recommend
from pipeline.settings import ALSParams, TuningSettings

log = logging.getLogger(__name__)


class TuningError(PipelineError):
    """The search cannot run on this data or budget."""


@dataclass(frozen=True)
class SearchSpace:
    """Inclusive ranges of each searched parameter (factors, regularization and alpha on log scales)."""

    factors: tuple[int, int] = (16, 256)
    regularization: tuple[float, float] = (1e-3, 100.0)
    alpha: tuple[float, float] = (0.1, 50.0)
    iterations: tuple[int, int] = (5, 40)
    scalings: tuple[str, ...] = SCALINGS


class TuningRecord(BaseModel):
    """Where a run's parameters came from, kept in its artifact.

    ``source`` is ``search`` (a search ran on this run's training part: ``trials`` in the order
    they ran, the winner ``best``, the parameters it started from ``start``), ``reused`` (the
    winner of the search of ``from_version``, with its trials) or ``configured`` (tuning off).
    """

    model_config = ConfigDict(frozen=True)

    source: Literal["search", "reused", "configured"]
    best: ALSParams
    metric: str | None = None
    trials: list[dict] = Field(default_factory=list)
    tuned_at: str | None = None
    seconds: float | None = None
    start: ALSParams | None = None
    from_version: str | None = None
    sampled_users: int | None = None  # the search fitted on a seeded sample of this many users (max_users)


def suggest(trial: optuna.Trial, space: SearchSpace, random_state: int) -> ALSParams:
    """The trial's parameters, drawn by the sampler from ``space``."""
    return ALSParams(
        factors=trial.suggest_int("factors", *space.factors, log=True),
        regularization=trial.suggest_float("regularization", *space.regularization, log=True),
        alpha=trial.suggest_float("alpha", *space.alpha, log=True),
        iterations=trial.suggest_int("iterations", *space.iterations),
        scaling=trial.suggest_categorical("scaling", list(space.scalings)),
        random_state=random_state,
    )


def validation_metrics(model, fold: Holdout, users: np.ndarray, k: int) -> dict[str, float]:
    """The model's metrics at k on the fold's validation part (its training items filtered out)."""
    lists = recommend.top_k_for_users(model, fold.train.user_items, k, users).ids
    return ranking_metrics(lists, fold.test[users], k)


@dataclass
class Objective:
    """One trial: fit on the fold's training part, scored on its validation part every
    ``report_every`` iterations (reported to the pruner) and at the end."""

    fold: Holdout
    users: np.ndarray
    k: int
    space: SearchSpace
    random_state: int
    use_gpu: bool | None = None
    report_every: int = 3
    deadline: float | None = None  # time.perf_counter() after which a running trial stops (budget_stop)

    def __call__(self, trial: optuna.Trial) -> float:
        params = suggest(trial, self.space, self.random_state)
        metric = f"ndcg@{self.k}"

        def on_iteration(model, done: int) -> None:
            budget_stop(trial, self.deadline, done)
            if done % self.report_every or done == params.iterations:
                return
            value = validation_metrics(model, self.fold, self.users, self.k)[metric]
            trial.set_user_attr("iterations_run", done)
            trial.report(value, done)
            if trial.should_prune():
                raise optuna.TrialPruned(f"{metric} {value:.4f} after {done} iterations")

        model = train.fit(self.fold.train, params, self.use_gpu, on_iteration)
        metrics = validation_metrics(model, self.fold, self.users, self.k)
        trial.set_user_attr("iterations_run", params.iterations)
        trial.set_user_attr(f"recall@{self.k}", metrics[f"recall@{self.k}"])
        return metrics[metric]


def tune(
    data: Interactions,
    budget: TuningSettings,
    k: int,
    start: ALSParams,
    space: SearchSpace = SearchSpace(),
    use_gpu: bool | None = None,
    enqueue: tuple[ALSParams, ...] = (),
    fold: Holdout | None = None,
    confirm_folds: tuple[Holdout, ...] | None = None,
) -> TuningRecord:
    """Optuna search within ``budget`` (trials and seconds) maximising NDCG@k on a validation split
    carved out of ``data``, which must be training data only. ``start`` (then ``enqueue``) are the
    first trials. ``fold``: the validation split to use (``pipeline.data.validation``: the same kind
    as the holdout's), made from ``data``; None: a random share of each user's items.
    ``confirm_folds``: fresh validation splits the best ``confirm_trials`` are fitted on again
    (``validation.confirm_folds``, made from ``data``); None: with ``fold`` None those of the
    random kind, with a ``fold`` given none."""
    if fold is None:
        fold = split_per_user(data, budget.validation_fraction, budget.seed)
        if confirm_folds is None:
            confirm_folds = validation.confirm_folds("random-per-user", data, budget)
    whole = fold.train.shape[0]
    fold = sampling.sample_fold(fold, budget.max_users, budget.seed)  # a seeded share of many users
    if confirm_folds:
        confirm_folds = tuple(sampling.sample_fold(f, budget.max_users, budget.seed) for f in confirm_folds)
    sampled = fold.train.shape[0] < whole
    space = search_cost.capped(space, *search_cost.caps(budget, start, sampled))  # the winner's fit cost
    users = fold.test_users
    if len(users) == 0:
        raise TuningError(
            f"training data of {data.shape[0]} users leaves no validation items: "
            "tuning needs users with at least 2 items"
        )
    metric = f"ndcg@{k}"
    study = make_study(budget)
    for params in anchors(start, enqueue, space):
        study.enqueue_trial(params.model_dump(exclude={"random_state"}), skip_if_exists=False)
    confirms = tuple(f for f in confirm_folds or () if len(f.test_users))
    confirming = budget.confirm_trials > 1 and bool(confirms)
    began = time.perf_counter()
    deadline = began + budget.max_seconds  # the whole search's, the confirmation's refits included
    trials_end = began + budget.max_seconds * (TRIALS_SHARE if confirming else 1.0)
    objective = Objective(fold, users, k, space, start.random_state, use_gpu, deadline=trials_end)
    with warnings.catch_warnings():  # the configured start may lie outside the searched ranges
        warnings.filterwarnings("ignore", message="Fixed parameter .* is out of range", category=UserWarning)
        study.optimize(
            objective,
            n_trials=budget.max_trials,
            catch=(train.TrainingError,),
            callbacks=[_log_trial, _stop_after(trials_end)],  # the first trial always runs
            show_progress_bar=sys.stderr.isatty(),
        )
    trials = trial_rows(study, metric, k, began)
    complete = [t for t in trials if t["state"] == "complete"]
    if not complete:
        raise TuningError(f"no trial of the search completed ({len(trials)} pruned or failed)")
    best = confirmed_best(complete, confirms, budget.confirm_trials, k, start.random_state, use_gpu, deadline)
    best["best"] = True
    return TuningRecord(
        source="search",
        best=trial_params(best, start.random_state),
        metric=metric,
        trials=trials,
        tuned_at=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=round(time.perf_counter() - began, 3),
        start=start,
        sampled_users=fold.train.shape[0] if sampled else None,
    )


TRIALS_SHARE = 2 / 3  # of ``max_seconds`` for the trials when the best are confirmed; the rest refits


def anchors(start: ALSParams, enqueue: tuple[ALSParams, ...], space: SearchSpace) -> list[ALSParams]:
    """The first trials, before the sampler's: ``start``, then ``enqueue``, then ``start`` with each
    other scaling of ``space``. The scaling is the one categorical choice, and a random start can
    leave one untried for many trials (the best grid point on the retail sample is BM25, its
    configured start linear); trying each at a known-good point costs two trials and shows TPE
    which to model."""
    variants = [start.model_copy(update={"scaling": s}) for s in space.scalings if s != start.scaling]
    return [start, *enqueue, *variants]


def trial_params(row: dict, random_state: int) -> ALSParams:
    names = ("factors", "regularization", "alpha", "iterations", "scaling")
    return ALSParams(**{n: row[n] for n in names}, random_state=random_state)


def confirmed_best(
    complete: list[dict],
    folds: tuple[Holdout, ...],
    confirm_trials: int,
    k: int,
    random_state: int,
    use_gpu: bool | None = None,
    deadline: float | None = None,
) -> dict:
    """The winner among complete trial rows: the best ``confirm_trials`` by the search's validation
    score are fitted again on each of ``folds`` and the best mean score there wins (kept as
    ``confirm_ndcg@k`` in the row); the search's own score only picks who is confirmed.

    Why: the search's score of its top trial is biased twice. Upwards, because it is the maximum
    of many noisy scores on one split (the winner's curse: on 593 users the top trial was a lucky
    18 factors, regularization 0.002, scoring 0.087 on the search's split and 0.076 on two
    others); and towards small models, because the search's fits train on a fifth less than the
    final fit (docs/evaluation.md). Fresh splits drawn apart from the search's carry no
    selection, and their smaller share trains nearly on all the data. Without folds (a time
    split), or ``confirm_trials`` 1, the top trial.

    ``deadline`` (``time.perf_counter()``): no trial's refits start after it, and only the trials
    refitted by then compete (with fewer than two, the top trial wins)."""
    metric = f"ndcg@{k}"
    ranked = sorted(complete, key=lambda t: t[metric], reverse=True)
    folds = tuple(f for f in folds if len(f.test_users))
    if not folds or confirm_trials < 2 or len(ranked) < 2:
        return ranked[0]
    top = []
    for row in ranked[:confirm_trials]:
        if deadline is not None and time.perf_counter() >= deadline:
            break
        top.append(row)
        params = trial_params(row, random_state)
        scores = [
            validation_metrics(train.fit(f.train, params, use_gpu), f, f.test_users, k)[metric] for f in folds
        ]
        row[f"confirm_{metric}"] = float(np.mean(scores))
    if len(top) < 2:
        return ranked[0]
    return max(top, key=lambda t: t[f"confirm_{metric}"])


def make_study(budget: TuningSettings) -> optuna.Study:
    """A maximising study: seeded multivariate TPE, median pruning after ``prune_after_trials``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is ours (_log_trial)
    sampler = optuna.samplers.TPESampler(
        seed=budget.seed, n_startup_trials=budget.random_trials, multivariate=True
    )
    pruner = optuna.pruners.MedianPruner(n_startup_trials=budget.prune_after_trials, n_warmup_steps=0)
    return optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)


def budget_stop(trial: optuna.Trial, deadline: float | None, done: int) -> None:
    """End a running trial (as pruned, at its last reported score) once the search's time is up,
    unless no trial has completed yet: the budget bounds the search, not just when trials start."""
    if deadline is None or time.perf_counter() < deadline:
        return
    if not trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        return  # the first complete trial is the search's floor: it always runs to the end
    trial.set_user_attr("iterations_run", done)
    trial.set_user_attr("stopped_by_budget", True)
    raise optuna.TrialPruned(f"the search's time budget ran out after {done} iterations")


def _stop_after(deadline: float):
    """A study callback: no trial starts after ``deadline`` (``time.perf_counter()``)."""

    def stop(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
        if time.perf_counter() >= deadline:
            study.stop()

    return stop


def _log_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    log.info("tuning trial %d %s: %s %s", trial.number, trial.state.name.lower(), trial.params, trial.value)


def trial_rows(study: optuna.Study, metric: str, k: int, began: float) -> list[dict]:
    """Every trial as a plain row: parameters, score (the last reported one for a pruned trial),
    state, iterations run, seconds, seconds since the search began, and the best score so far."""
    rows, best_so_far = [], float("-inf")
    first = study.trials[0].datetime_start if study.trials else None
    for trial in study.trials:
        if trial.state not in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                               optuna.trial.TrialState.FAIL):  # fmt: skip
            continue
        value = (
            trial.value if trial.value is not None else trial.intermediate_values.get(trial.last_step or 0)
        )
        state = trial.state.name.lower()
        if state == "complete" and value is not None:
            best_so_far = max(best_so_far, value)
        assert first is not None and trial.datetime_start is not None and trial.datetime_complete is not None
        rows.append(
            {"trial": trial.number, **trial.params, metric: value,
             f"recall@{k}": trial.user_attrs.get(f"recall@{k}"),
             "state": state, "iterations_run": trial.user_attrs.get("iterations_run", 0),
             "stopped_by_budget": trial.user_attrs.get("stopped_by_budget", False),
             "seconds": round((trial.datetime_complete - trial.datetime_start).total_seconds(), 3),
             "elapsed": round((trial.datetime_complete - first).total_seconds(), 3),
             "best_so_far": None if best_so_far == float("-inf") else best_so_far, "best": False}
        )  # fmt: skip
    return rows


def due(last: TuningRecord | None, every_days: float, start: ALSParams, now: datetime | None = None) -> bool:
    """Whether a new search is due, given the record of the last search: none yet, ``every_days``
    passed, or the configured parameters it started from changed."""
    if last is None or every_days == 0 or last.start != start or last.tuned_at is None:
        return True
    tuned_at = datetime.fromisoformat(last.tuned_at)
    return ((now or datetime.now(UTC)) - tuned_at).total_seconds() >= every_days * 86400


def choose(
    data: Interactions,
    budget: TuningSettings,
    k: int,
    start: ALSParams,
    last: tuple[str, TuningRecord] | None,
    use_gpu: bool | None = None,
    now: datetime | None = None,
    fold: Holdout | None = None,
    confirm_folds: tuple[Holdout, ...] | None = None,
) -> TuningRecord:
    """This run's tuning record: a new search on ``data`` (training data only) when one is due,
    else the winner of ``last`` (the version that searched last, and its record) reused, else
    (tuning disabled) the configured parameters. ``best`` holds the parameters to train with.
    """
    if not budget.enabled:
        return TuningRecord(source="configured", best=start)
    if last is None or due(last[1], budget.every_days, start, now):
        return tune(data, budget, k, start, use_gpu=use_gpu, fold=fold, confirm_folds=confirm_folds)
    version, record = last
    return record.model_copy(update={"source": "reused", "from_version": version})


def fit_tuned(
    data: Interactions,
    budget: TuningSettings,
    k: int,
    start: ALSParams,
    use_gpu: bool | None = None,
    fold: Holdout | None = None,
    confirm_folds: tuple[Holdout, ...] | None = None,
):
    """Tune on ``data`` (training data only; ``fold`` its validation split, as in ``tune``), then
    fit the winner on all of it: (model, record)."""
    record = tune(data, budget, k, start, use_gpu=use_gpu, fold=fold, confirm_folds=confirm_folds)
    return train.fit(data, record.best, use_gpu), record


def tuned_evaluation(
    holdout: Holdout,
    budget: TuningSettings,
    k: int,
    start: ALSParams,
    ks: tuple[int, ...] = (),
    attributes=None,
    use_gpu: bool | None = None,
    fold: Holdout | None = None,
    confirm_folds: tuple[Holdout, ...] | None = None,
) -> tuple[evaluate.Evaluation, TuningRecord]:
    """Tune on the holdout's training part only, fit the winner on it, and measure it against
    the baselines on the held-out part: what ``recs evaluate`` prints."""
    model, record = fit_tuned(holdout.train, budget, k, start, use_gpu, fold, confirm_folds)
    return evaluate.evaluate_candidate(model, holdout, k, ks, attributes, use_gpu=use_gpu), record
