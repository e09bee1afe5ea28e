"""Interactions: weights, decay, duplicates, returns, exclusions, thresholds, the seen-items matrix.

Each case ingests a tiny hand-made log into a real DuckDB warehouse and checks the known answer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.data.interactions import EmptyInteractionsError, InteractionRules, load_matrix, seen_matrix
from tests.pipeline.data.logs import WEIGHTS, log, weights_of


def test_event_weights_add_up_and_a_return_offsets_the_purchase(load):
    con = load(
        log(
            ("a", "x", "view", 0),
            ("a", "x", "cart", 0, 1),
            ("a", "y", "purchase", 0),
            ("a", "y", "return", 1),
            ("b", "y", "purchase", 0),
        )
    )
    assert weights_of(con, InteractionRules(WEIGHTS)) == {("a", "x"): 4.0, ("b", "y"): 5.0}


def test_exact_duplicates_count_once(load):
    con = load(log(("a", "x", "view", 0), ("a", "x", "view", 0), ("a", "x", "view", 1)))
    assert weights_of(con, InteractionRules(WEIGHTS)) == {("a", "x"): 2.0}


def test_exclusion_rule_drops_non_products(load):
    con = load(log(("a", "POST", "purchase", 0), ("a", "x", "purchase", 0), ("b", "DOT", "view", 0)))
    assert weights_of(con, InteractionRules(WEIGHTS, exclude_items_regex="POST|DOT")) == {("a", "x"): 5.0}


def test_half_life_halves_the_weight_of_an_event_that_old(load):
    con = load(log(("a", "x", "view", 0), ("a", "y", "view", 10), ("b", "y", "view", 20)))
    got = weights_of(con, InteractionRules(WEIGHTS, half_life_days=10))
    assert got == {("a", "x"): 0.25, ("a", "y"): 0.5, ("b", "y"): 1.0}


def test_minimum_activity_drops_rare_items_then_light_users(load):
    con = load(
        log(
            ("a", "x", "view", 0),
            ("a", "y", "view", 0),
            ("b", "x", "view", 0),
            ("b", "y", "view", 0),
            ("c", "x", "view", 0),
            ("c", "z", "view", 0),  # z has one user: dropped, then c has one item left: dropped
        )
    )
    got = weights_of(con, InteractionRules(WEIGHTS, min_user_interactions=2, min_item_interactions=2))
    assert set(got) == {("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")}


def oracle(frame: pd.DataFrame, weights: dict, half_life_days: float, min_user: int) -> pd.Series:
    """The interaction rules computed again in pandas, row by row: the SQL's reference."""
    events = frame.drop_duplicates(["user_id", "item_id", "event_type", "ts"])
    age_days = (events["ts"].max() - events["ts"]).dt.total_seconds() / 86_400
    weight = events["event_type"].map(weights) * 0.5 ** (age_days / half_life_days)
    summed = weight.groupby([events["user_id"], events["item_id"]]).sum()
    summed = summed[summed > 0]
    users = summed.groupby(level="user_id").size()
    return summed[summed.index.get_level_values("user_id").isin(users[users >= min_user].index)]


def test_load_matrix_equals_the_rules_computed_in_pandas(load):
    rng = np.random.default_rng(0)
    rows = [
        (f"u{rng.integers(30)}", f"i{rng.integers(40)}", str(rng.choice(list(WEIGHTS))), int(d))
        for d in rng.integers(0, 20, 400)
    ]
    frame = log(*rows)
    con = load(frame)
    data = load_matrix(con, InteractionRules(WEIGHTS, half_life_days=7, min_user_interactions=2))
    expected = oracle(frame, WEIGHTS, 7, 2)
    assert list(data.user_ids) == sorted(expected.index.get_level_values("user_id").unique())
    assert list(data.item_ids) == sorted(expected.index.get_level_values("item_id").unique())
    got = weights_of(con, InteractionRules(WEIGHTS, half_life_days=7, min_user_interactions=2))
    assert got.keys() == set(expected.index)
    assert max(abs(got[key] - value) for key, value in expected.items()) < 1e-4


def test_empty_interactions_raise(load):
    con = load(log(("a", "x", "return", 0)))
    with pytest.raises(EmptyInteractionsError, match="no interactions with a positive weight"):
        load_matrix(con, InteractionRules(WEIGHTS))


def test_seen_matrix_marks_every_touched_pair_even_returned_ones(load):
    con = load(
        log(("a", "x", "purchase", 0), ("a", "x", "return", 1), ("a", "y", "view", 0), ("b", "x", "view", 0))
    )
    data = load_matrix(con, InteractionRules(WEIGHTS))
    seen = seen_matrix(con, None, data)
    assert seen.shape == data.shape
    assert seen.toarray().tolist() == [[1.0, 1.0], [1.0, 0.0]]  # users a, b x items x, y
    assert data.user_items.toarray().tolist() == [[0.0, 1.0], [1.0, 0.0]]
