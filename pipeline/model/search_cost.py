"""What a search may pick: its space capped so that the winner costs at most a known fit.

An ALS fit's time grows with its factors (each iteration solves a factors x factors system per
user and item) and its iterations, and the flow fits the winner twice after the search (the
holdout model, then the served one): a search free to pick 189 factors and 33 iterations makes
the night several times longer at 500k users than the configured 64 x 15. ``tuning.max_factors``
and ``tuning.max_iterations`` cap the searched ranges, so the night's fits cost at most a fit
of that size. Unset, they are the configured start's size when the search runs on a sample of
many users (``tuning.max_users``), where a fit is costly and a search has time for few trials:
measured at 500k users, an uncapped search managed 5 slow trials and its winner scored below
item-kNN, the capped one 13 trials and a better model (docs/evaluation.md, "Many users"); on
a log the search sees whole, the space's own bounds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.model.tune import SearchSpace
    from pipeline.settings import ALSParams, TuningSettings


def caps(budget: TuningSettings, start: ALSParams, sampled: bool) -> tuple[int | None, int | None]:
    """(factors, iterations) caps: the settings', else the start's when the search is ``sampled``."""
    if not sampled:
        return budget.max_factors, budget.max_iterations
    return budget.max_factors or start.factors, budget.max_iterations or start.iterations


def capped_range(bounds: tuple[int, int], cap: int | None) -> tuple[int, int]:
    """``bounds`` with its upper end at most ``cap`` (and its lower end too, if ``cap`` is below it)."""
    low, high = bounds
    if cap is None:
        return bounds
    return min(low, cap), min(high, cap)


def capped(space: SearchSpace, max_factors: int | None, max_iterations: int | None) -> SearchSpace:
    """``space`` with factors and iterations capped (None: as they are)."""
    return replace(
        space,
        factors=capped_range(space.factors, max_factors),
        iterations=capped_range(space.iterations, max_iterations),
    )
