"""Tune: a budgeted random search over ALS parameters, on training data only.

The search sees one ``Interactions``, the training part of a holdout: it carves
its own validation split out of it (a random share of each user's items) and
never receives the test part, so the test metrics of the winner stay honest.
Parameters are drawn log-uniformly (regularization from 1e-3 to 100: strong
regularization often wins on small data); the first trial is the configured
parameters, so the winner is never worse on validation than not tuning.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeline.data.interactions import Interactions
from pipeline.data.splits import Holdout, split_per_user
from pipeline.errors import PipelineError
from pipeline.model import evaluate, train
from pipeline.model.metrics import ranking_metrics
from pipeline.precompute import recommend
from pipeline.settings import ALSParams, TuningSettings

log = logging.getLogger(__name__)


class TuningError(PipelineError):
    """The search cannot run on this data or budget."""


@dataclass(frozen=True)
class SearchSpace:
    """Inclusive log-scale ranges of each searched parameter."""

    factors: tuple[int, int] = (16, 256)
    regularization: tuple[float, float] = (1e-3, 100.0)
    alpha: tuple[float, float] = (0.1, 50.0)
    iterations: tuple[int, int] = (5, 40)


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


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def sample_params(space: SearchSpace, rng: np.random.Generator, random_state: int) -> ALSParams:
    """One log-uniform draw from ``space``; integers rounded."""
    return ALSParams(
        factors=round(_log_uniform(rng, *space.factors)),
        regularization=_log_uniform(rng, *space.regularization),
        alpha=_log_uniform(rng, *space.alpha),
        iterations=round(_log_uniform(rng, *space.iterations)),
        random_state=random_state,
    )


def trial_metrics(
    params: ALSParams, fold: Holdout, users: np.ndarray, k: int, use_gpu: bool | None
) -> dict[str, float]:
    """Fit on the fold's training part and measure on its validation part."""
    model = train.fit(fold.train, params, use_gpu)
    lists = recommend.top_k_for_users(model, fold.train.user_items, k, users).ids
    return ranking_metrics(lists, fold.test[users], k)


def tune(
    data: Interactions,
    budget: TuningSettings,
    k: int,
    start: ALSParams,
    space: SearchSpace = SearchSpace(),
    use_gpu: bool | None = None,
) -> TuningRecord:
    """Random search within ``budget`` (trials and seconds) maximising NDCG@k on a validation
    split carved out of ``data``, which must be training data only."""
    fold = split_per_user(data, budget.validation_fraction, budget.seed)
    users = fold.test_users
    if len(users) == 0:
        raise TuningError(
            f"training data of {data.shape[0]} users leaves no validation items: "
            "tuning needs users with at least 2 items"
        )
    metric = f"ndcg@{k}"
    rng = np.random.default_rng(budget.seed)
    began = time.perf_counter()
    trials: list[dict] = []
    candidate = start
    while len(trials) < budget.max_trials and (
        not trials or time.perf_counter() - began < budget.max_seconds
    ):
        t0 = time.perf_counter()
        metrics = trial_metrics(candidate, fold, users, k, use_gpu)
        trials.append(
            candidate.model_dump(exclude={"random_state"})
            | {metric: metrics[metric], f"recall@{k}": metrics[f"recall@{k}"]}
            | {"seconds": round(time.perf_counter() - t0, 3)}
        )
        log.info("tuning trial %d: %s", len(trials), trials[-1])
        candidate = sample_params(space, rng, start.random_state)
    best = max(range(len(trials)), key=lambda i: trials[i][metric])
    winner = ALSParams(**{n: trials[best][n] for n in ("factors", "regularization", "alpha", "iterations")})
    return TuningRecord(
        source="search",
        best=winner.model_copy(update={"random_state": start.random_state}),
        metric=metric,
        trials=[{"trial": i, **t, "best": i == best} for i, t in enumerate(trials)],
        tuned_at=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=round(time.perf_counter() - began, 3),
        start=start,
    )


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
) -> TuningRecord:
    """This run's tuning record: a new search on ``data`` (training data only) when one is due,
    else the winner of ``last`` (the version that searched last, and its record) reused, else
    (tuning disabled) the configured parameters. ``best`` holds the parameters to train with.
    """
    if not budget.enabled:
        return TuningRecord(source="configured", best=start)
    if last is None or due(last[1], budget.every_days, start, now):
        return tune(data, budget, k, start, use_gpu=use_gpu)
    version, record = last
    return record.model_copy(update={"source": "reused", "from_version": version})


def fit_tuned(
    data: Interactions, budget: TuningSettings, k: int, start: ALSParams, use_gpu: bool | None = None
):
    """Tune on ``data`` (training data only), then fit the winner on all of it: (model, record)."""
    record = tune(data, budget, k, start, use_gpu=use_gpu)
    return train.fit(data, record.best, use_gpu), record


def tuned_evaluation(
    holdout: Holdout,
    budget: TuningSettings,
    k: int,
    start: ALSParams,
    ks: tuple[int, ...] = (),
    attributes=None,
    use_gpu: bool | None = None,
) -> tuple[evaluate.Evaluation, TuningRecord]:
    """Tune on the holdout's training part only, fit the winner on it, and measure it against
    the baselines on the held-out part: what ``recs evaluate`` prints."""
    model, record = fit_tuned(holdout.train, budget, k, start, use_gpu)
    return evaluate.evaluate_candidate(model, holdout, k, ks, attributes, use_gpu=use_gpu), record
