"""Shards: users split into contiguous ranges, so scoring and publishing can run on many workers.

A shard is a ``range`` of user rows. Each is scored on its own (``score_range``) and the
parts are put back in order (``concat``); a version's DynamoDB rows can be cut into
per-shard parts that together are exactly the whole version's rows (``row_parts``).
Nothing here knows about Prefect: the flow maps a task over
``ranges(...)``, and a Dask or Ray task runner sends each shard to a worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from pipeline.precompute import progress
from pipeline.precompute.recommend import Precomputed, TopK, top_k_for_users


def ranges(n: int, shards: int) -> list[range]:
    """``shards`` contiguous ranges covering 0..n, sizes differing by at most one (none empty)."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    bounds = np.linspace(0, n, min(shards, max(n, 1)) + 1).round().astype(int)
    return [range(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def score_range(model, seen: sp.csr_matrix, k: int, users: range, threads: int | None = None) -> TopK:
    """Top k of the users in ``users`` (a shard), as rows 0..len(users); a bar on a terminal."""
    rows = np.arange(users.start, users.stop)
    with progress.terminal_bar(len(users), f"score users {users.start}-{users.stop}", "users") as bar:
        return top_k_for_users(model, seen, k, rows, threads=threads, on_block=bar.update)


@dataclass(frozen=True)
class Factors:
    """A factor model's user factors cut to one shard's users, and every item's factors: all that
    ``rules.score_range`` reads of an ALS model (``user_factors``, ``item_factors``)."""

    user_factors: np.ndarray
    item_factors: np.ndarray


@dataclass(frozen=True)
class Slice:
    """What one scoring shard needs and nothing more: its users' rows of the factors and of the
    seen matrix, as rows 0..len(users). A task runner that ships each task's inputs to a worker
    (Dask, Ray) then sends each shard its own rows, not the whole model and seen matrix."""

    users: range  # the shard's user rows in the whole model
    model: object  # ``Factors``; a model without factors (item kNN) whole: its own ``recommend`` needs it
    seen: sp.csr_matrix  # the shard's rows of the seen matrix

    @property
    def rows(self) -> range:
        """The shard's users as rows of ``model`` (``Factors``) and ``seen``."""
        return range(len(self.users))


def slice_for(model, seen: sp.csr_matrix, users: range) -> Slice:
    """The shard of ``users``: their factor rows (a view) and seen rows (a copy of those rows only)."""
    if users.step != 1 or users.start < 0 or users.stop > seen.shape[0]:
        raise ValueError(f"users must be a contiguous range within 0..{seen.shape[0]}, got {users}")
    rows = seen[users.start : users.stop]
    if getattr(model, "item_factors", None) is None:
        return Slice(users, model, rows)
    factors = Factors(model.user_factors[users.start : users.stop], model.item_factors)
    return Slice(users, factors, rows)


def concat(parts: Sequence[TopK]) -> TopK:
    """The shards' results, in shard order, as one TopK."""
    if not parts:
        raise ValueError("concat needs at least one shard's result")
    return TopK(np.concatenate([p.ids for p in parts]), np.concatenate([p.scores for p in parts]))


def row_parts(pre: Precomputed, shards: int) -> list[range]:
    """Per-shard parts of a version's rows, as ranges over ``writer.version_rows``' fixed order
    (users, then items, then popular lists): part i holds shard i's users, the last part also
    every item and popular row. Writing every part writes each of the version's rows once, and
    ``writer.version_rows(..., part)`` encodes only that part's rows."""
    parts = [range(r.start, r.stop) for r in ranges(len(pre.user_ids), shards)]
    parts[-1] = range(parts[-1].start, pre.n_rows)
    return parts
