"""Splits: which interactions a model learns from and which it is measured on.

One function makes the holdout from the warehouse, ``holdout``: the last ``holdout_days``
days of events (``"time"``), or a seeded share of each user's interactions
(``"random-per-user"``). ``split_per_user`` carves the same kind of random split out of a
matrix already in memory (the tuner's validation split of the training part).

The test part of a ``Holdout`` keeps only pairs the training part can be measured on: a
known user, a known item, and an item new to that user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import duckdb
import numpy as np
import scipy.sparse as sp

from pipeline.data.interactions import (
    InteractionRules,
    Interactions,
    id_map,
    load_matrix,
    matrix_from_pairs,
    pairs_params,
    pairs_sql,
    time_range,
)
from pipeline.errors import PipelineError

SplitKind = Literal["time", "random-per-user"]
SPLITS: tuple[SplitKind, ...] = ("time", "random-per-user")

# a per-user random split: each user's pairs in a seeded random order, the first
# floor(n * test_fraction) of them to test (so a user with one pair stays in training)
RANDOM_SPLIT_SQL = """
SELECT u, i, weight,
       row_number() OVER (PARTITION BY u ORDER BY hash(u, i, $seed)) <= floor(count(*) OVER (PARTITION BY u)
                                                                     * $fraction) AS test
FROM ({pairs})
"""


class SplitError(PipelineError):
    """A split was asked for that cannot be made (an unknown kind, a share outside (0, 1))."""


@dataclass(frozen=True)
class Holdout:
    """Training interactions and the held-out (user, item) pairs to predict."""

    train: Interactions
    test: sp.csr_matrix  # same shape and ids as train; 1 where the user took up a held-out item

    @property
    def test_users(self) -> np.ndarray:
        return np.flatnonzero(np.diff(self.test.indptr))


def holdout(
    con: duckdb.DuckDBPyConnection,
    rules: InteractionRules,
    how: SplitKind = "time",
    holdout_days: int = 30,
    test_fraction: float = 0.2,
    seed: int = 42,
) -> Holdout:
    """The warehouse's interactions split by time (the last ``holdout_days`` days) or at random per
    user (``test_fraction`` of each user's pairs, rounded down, the same for the same ``seed``).

    Minimum-activity thresholds apply to the training part only.
    """
    if how not in SPLITS:
        raise SplitError(f"split must be one of {SPLITS}, got {how!r}")
    if how == "time":
        cutoff = holdout_cutoff(con, holdout_days)
        train = load_matrix(con, rules, until=cutoff)
        later = load_matrix(con, rules.without_thresholds(), since=cutoff)
        return make_holdout(train, later)
    _check_fraction(test_fraction)
    params = pairs_params(rules, datetime.min, datetime.max) | {"seed": seed, "fraction": test_fraction}
    pairs = con.execute(RANDOM_SPLIT_SQL.format(pairs=pairs_sql(rules)), params).fetchnumpy()
    users, items = id_map(con, "user"), id_map(con, "item")
    u, i, weight = (np.asarray(pairs[column]) for column in ("u", "i", "weight"))
    test = np.asarray(pairs["test"], dtype=bool)
    train_part = matrix_from_pairs(u[~test], i[~test], weight[~test], users, items)
    test_part = matrix_from_pairs(u[test], i[test], weight[test], users, items)
    return make_holdout(train_part, test_part)


def holdout_cutoff(con: duckdb.DuckDBPyConnection, holdout_days: int) -> datetime:
    """The start of the last ``holdout_days`` days of events: the time-based test period."""
    _, last = time_range(con)
    return last - timedelta(days=holdout_days)


def make_holdout(train: Interactions, later: Interactions) -> Holdout:
    """Pairs of ``later`` whose user and item are known in ``train`` and that are new to the user."""
    test = to_same_index(later, train)
    seen = train.user_items.copy()
    seen.data[:] = 1
    test.data[:] = 1
    test = (test - test.multiply(seen)).tocsr()
    test.eliminate_zeros()
    return Holdout(train, test)


def to_same_index(data: Interactions, like: Interactions) -> sp.csr_matrix:
    """``data``'s matrix re-indexed to ``like``'s users and items (unknown ids dropped)."""
    rows = np.searchsorted(like.user_ids, data.user_ids)
    rows_ok = (rows < len(like.user_ids)) & (
        like.user_ids[np.minimum(rows, len(like.user_ids) - 1)] == data.user_ids
    )
    cols = np.searchsorted(like.item_ids, data.item_ids)
    cols_ok = (cols < len(like.item_ids)) & (
        like.item_ids[np.minimum(cols, len(like.item_ids) - 1)] == data.item_ids
    )
    coo = data.user_items.tocoo()
    keep = rows_ok[coo.row] & cols_ok[coo.col]
    return sp.csr_matrix((coo.data[keep], (rows[coo.row[keep]], cols[coo.col[keep]])), shape=like.shape)


def split_per_user(data: Interactions, test_fraction: float, seed: int, min_train: int = 1) -> Holdout:
    """Hold out a random ``test_fraction`` of each user's items, the same ones for the same seed.

    A user with more than ``min_train`` items holds out ``max(1, round(fraction x items))`` of
    them, never leaving fewer than ``min_train`` to train on; lighter users keep everything.
    """
    _check_fraction(test_fraction)
    m = data.user_items.tocsr()
    m.sort_indices()
    counts = np.diff(m.indptr)
    n_test = np.clip(np.rint(counts * test_fraction), 1, None).astype(np.int64)
    n_test = np.where(counts > min_train, np.minimum(n_test, counts - min_train), 0)
    rows = np.repeat(np.arange(m.shape[0]), counts)
    order = np.lexsort((np.random.default_rng(seed).random(m.nnz), rows))
    rank_in_row = np.empty(m.nnz, dtype=np.int64)
    rank_in_row[order] = np.arange(m.nnz) - m.indptr[rows[order]]
    held = rank_in_row < n_test[rows]
    train = sp.csr_matrix((np.where(held, 0, m.data), m.indices.copy(), m.indptr.copy()), shape=m.shape)
    test = sp.csr_matrix((held.astype(np.float32), m.indices.copy(), m.indptr.copy()), shape=m.shape)
    train.eliminate_zeros()
    test.eliminate_zeros()
    return Holdout(Interactions(train, data.user_ids, data.item_ids), test)


def _check_fraction(test_fraction: float) -> None:
    if not 0 < test_fraction < 1:
        raise SplitError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}")
