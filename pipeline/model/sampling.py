"""Seeded user samples: the parameter search and the holdout evaluation on a share of the users
when there are many.

At 500k users a search trial fits ALS on every training user and scores every validation user
several times, and the holdout evaluation ranks every test user's lists four ways: the flow's two
largest costs after the fits themselves. Both measure means over users, so a seeded sample of
users answers the same question with a known error: the evaluation keeps each metric's 95%
confidence interval (``metrics.ci95``), which grows as 1 / sqrt(users).

``cap`` None (or a population at or under the cap) keeps every user: small logs are measured
whole, exactly as before. The same population, cap and seed give the same sample.
"""

from __future__ import annotations

import numpy as np

from pipeline.data.interactions import Interactions
from pipeline.data.splits import Holdout
from pipeline.errors import PipelineError


class SamplingError(PipelineError):
    """A sample cannot be drawn as asked."""


def sample_rows(n: int, cap: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices of a seeded sample of ``cap`` of ``n`` rows; None when every row is kept
    (``cap`` None, or ``n <= cap``)."""
    if cap is not None and cap < 1:
        raise SamplingError(f"a user sample's cap must be at least 1 (or None: every user), got {cap}")
    if cap is None or n <= cap:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False))


def sample_users(users: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    """``users`` (an array of user rows), or a seeded sample of ``cap`` of them in their order."""
    rows = sample_rows(len(users), cap, seed)
    return users if rows is None else users[rows]


def sample_fold(fold: Holdout, cap: int | None, seed: int) -> Holdout:
    """The (training, validation) fold restricted to a seeded sample of ``cap`` of its users (every
    item kept), or the fold itself when it has at most ``cap`` users: what a search trial fits on
    and is scored on. An item's factors then see only the sampled users' interactions."""
    rows = sample_rows(fold.train.shape[0], cap, seed)
    if rows is None:
        return fold
    train = fold.train
    kept = Interactions(train.user_items[rows], train.user_ids[rows], train.item_ids)
    return Holdout(kept, fold.test[rows])
