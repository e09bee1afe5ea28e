"""Splits: the holdout from the warehouse (time, random per user), the validation split in memory."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from pipeline.data import splits, warehouse
from pipeline.data.interactions import InteractionRules, Interactions, load_matrix
from tests.model_data import pairs, synthetic_interactions
from tests.pipeline.data.logs import WEIGHTS, log


def id_pairs(matrix: sp.csr_matrix, like: Interactions) -> set[tuple[str, str]]:
    """The (user_id, item_id) pairs of ``matrix``, indexed as ``like``."""
    return {(like.user_ids[r], like.item_ids[c]) for r, c in pairs(matrix)}


def test_time_split_applies_thresholds_to_training_only(load):
    con = load(
        log(
            ("a", "x", "view", 0),
            ("a", "y", "view", 1),
            ("b", "x", "view", 2),
            ("b", "y", "view", 3),
            ("b", "z", "view", 4),
            ("c", "x", "view", 5),  # one training item: dropped by the threshold
            ("a", "z", "view", 30),  # the test period: one item for a, kept there
        )
    )
    held = splits.holdout(con, InteractionRules(WEIGHTS, min_user_interactions=2), "time", holdout_days=7)
    assert list(held.train.user_ids) == ["a", "b"]
    assert id_pairs(held.test, held.train) == {("a", "z")}


@pytest.fixture
def many(load):
    rows = [(f"u{u}", f"i{(u * 7 + k) % 50}", "view", k) for u in range(40) for k in range(u % 9 + 1)]
    return load(log(*rows))


def test_random_split_is_per_user_deterministic_and_complete(many):
    rules = InteractionRules(WEIGHTS)
    held = splits.holdout(many, rules, "random-per-user", test_fraction=0.3, seed=7)
    again = splits.holdout(many, rules, "random-per-user", test_fraction=0.3, seed=7)
    train, test = id_pairs(held.train.user_items, held.train), id_pairs(held.test, held.train)
    assert (train, test) == (id_pairs(again.train.user_items, again.train), id_pairs(again.test, again.train))
    everything = load_matrix(many, rules)
    assert train | test == id_pairs(everything.user_items, everything) and not train & test
    per_user = np.diff(everything.user_items.indptr)
    held_per_user = [sum(1 for u, _ in test if u == user) for user in everything.user_ids]
    assert held_per_user == np.floor(per_user * 0.3).astype(int).tolist()  # 1-2 item users stay whole
    other = splits.holdout(many, rules, "random-per-user", test_fraction=0.3, seed=8)
    assert id_pairs(other.test, other.train) != test


def test_unknown_split_is_refused(many):
    with pytest.raises(
        splits.SplitError, match=r"split must be one of \('time', 'random-per-user'\), got 'kfold'"
    ):
        splits.holdout(many, InteractionRules(WEIGHTS), "kfold")


def test_split_per_user_is_deterministic_disjoint_and_complete():
    data = synthetic_interactions()
    a = splits.split_per_user(data, 0.2, seed=7)
    b = splits.split_per_user(data, 0.2, seed=7)
    c = splits.split_per_user(data, 0.2, seed=8)
    assert pairs(a.test) == pairs(b.test) and pairs(a.test) != pairs(c.test)
    assert pairs(a.train.user_items).isdisjoint(pairs(a.test))
    assert pairs(a.train.user_items) | pairs(a.test) == pairs(data.user_items)
    counts = np.diff(data.user_items.indptr)
    assert (np.diff(a.train.user_items.indptr)[counts >= 1] >= 1).all()  # everyone keeps a training item
    assert np.diff(a.test.indptr)[counts == 1].sum() == 0  # one-item users are not held out
    assert a.test.nnz / data.user_items.nnz == pytest.approx(0.2, abs=0.05)


def test_split_per_user_refuses_a_fraction_outside_0_1():
    with pytest.raises(splits.SplitError, match="test_fraction must be between 0 and 1"):
        splits.split_per_user(synthetic_interactions(), 1.0, seed=0)


def test_make_holdout_keeps_only_new_pairs_of_known_users_and_items():
    train_part = Interactions(
        sp.csr_matrix(np.array([[1.0, 0, 1], [0, 1, 0]])), np.array(["a", "b"]), np.array(["x", "y", "z"])
    )
    later = Interactions(
        sp.csr_matrix(np.array([[0.0, 1, 1], [1, 1, 1], [1, 0, 0]])),
        np.array(["a", "b", "new"]),
        np.array(["w", "x", "y"]),
    )
    holdout = splits.make_holdout(train_part, later)
    # a: x seen before, y new; b: w unknown item, x new, y seen; "new" is an unknown user
    assert pairs(holdout.test) == {(0, 1), (1, 0)}
    assert holdout.test_users.tolist() == [0, 1]


@pytest.mark.parametrize("split", ["time", "random-per-user"])
def test_holdout_reads_either_split_from_a_warehouse(warehouse_file, split):
    rules = InteractionRules({"view": 1.0, "cart": 3.0, "purchase": 5.0})
    with warehouse.connect(warehouse_file[0], read_only=True) as con:
        held = splits.holdout(con, rules, split, 2, 0.2, 3)
    assert len(held.test_users) > 50
    assert pairs(held.train.user_items).isdisjoint(pairs(held.test))
