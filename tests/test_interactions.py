"""Interactions: weights, decay, duplicates, returns, exclusions, thresholds, splits, data quality.

Each case ingests a tiny hand-made log into a real DuckDB warehouse and checks the known answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from pipeline import flow, warehouse
from pipeline.ingest import IngestReport, ingest
from pipeline.interactions import (
    EmptyInteractionsError,
    InteractionRules,
    interactions_frame,
    load_matrix,
    quality_summary,
    seen_matrix,
    split_by_time,
    split_matrices,
    split_random,
    to_matrix,
)
from pipeline.settings import PipelineSettings

WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0, "return": -5.0}
T0 = datetime(2026, 1, 1)


def log(*rows: tuple) -> pd.DataFrame:
    """Events from (user, item, event_type, day offset[, minute]) tuples."""
    return pd.DataFrame(
        [
            {
                "user_id": u,
                "item_id": i,
                "event_type": t,
                "ts": T0 + timedelta(days=d, minutes=m[0] if m else 0),
                "country": "GB" if u != "u9" else "DE",
            }
            for u, i, t, d, *m in rows
        ]
    )


@pytest.fixture
def load(tmp_path):
    """Ingest a frame into a fresh warehouse and return the open connection."""
    cons = []

    def _load(frame: pd.DataFrame):
        path = tmp_path / f"events-{len(cons)}.parquet"
        frame.to_parquet(path, index=False)
        con = warehouse.connect(tmp_path / f"w{len(cons)}.duckdb")
        ingest(con, [path])
        cons.append(con)
        return con

    yield _load
    for con in cons:
        con.close()


def weights_of(con, rules: InteractionRules) -> dict[tuple[str, str], float]:
    frame = interactions_frame(con, rules)
    return {(u, i): round(float(w), 4) for u, i, w in frame.itertuples(index=False)}


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


def test_old_signature_still_works(load):
    con = load(log(("a", "POST", "view", 0), ("a", "x", "view", 0)))
    assert list(interactions_frame(con, WEIGHTS, "POST")["item_id"]) == ["x"]


def test_load_matrix_equals_the_frame_built_matrix(load):
    rng = np.random.default_rng(0)
    rows = [
        (f"u{rng.integers(30)}", f"i{rng.integers(40)}", str(rng.choice(list(WEIGHTS))), int(d))
        for d in rng.integers(0, 20, 400)
    ]
    con = load(log(*rows))
    rules = InteractionRules(WEIGHTS, half_life_days=7, min_user_interactions=2)
    fast, slow = load_matrix(con, rules), to_matrix(interactions_frame(con, rules))
    assert list(fast.user_ids) == list(slow.user_ids) and list(fast.item_ids) == list(slow.item_ids)
    assert abs(fast.user_items - slow.user_items).max() < 1e-6
    assert list(fast.user_ids) == sorted(fast.user_ids)


def test_empty_interactions_raise(load):
    con = load(log(("a", "x", "return", 0)))
    with pytest.raises(EmptyInteractionsError, match="no interactions with a positive weight"):
        load_matrix(con, InteractionRules(WEIGHTS))


def test_time_split_applies_thresholds_to_training_only(load):
    con = load(
        log(
            ("a", "x", "view", 0),
            ("a", "y", "view", 1),
            ("b", "x", "view", 2),
            ("b", "y", "view", 3),
            ("c", "x", "view", 30),  # the test period: c has one item, kept there
        )
    )
    rules = InteractionRules(WEIGHTS, min_user_interactions=2)
    before, after = split_by_time(con, rules, None, holdout_days=7)
    assert sorted(before["user_id"]) == ["a", "a", "b", "b"]
    assert list(after["user_id"]) == ["c"]
    train, test = split_matrices(con, rules, "time", holdout_days=7)
    assert (list(train.user_ids), list(test.user_ids)) == (["a", "b"], ["c"])


@pytest.fixture
def many(load):
    rows = [(f"u{u}", f"i{(u * 7 + k) % 50}", "view", k) for u in range(40) for k in range(u % 9 + 1)]
    return load(log(*rows))


def test_random_split_is_per_user_deterministic_and_complete(many):
    rules = InteractionRules(WEIGHTS)
    train, test = split_random(many, rules, test_fraction=0.3, seed=7)
    again_train, again_test = split_random(many, rules, test_fraction=0.3, seed=7)
    pd.testing.assert_frame_equal(test, again_test)
    pd.testing.assert_frame_equal(train, again_train)
    everything = interactions_frame(many, rules)
    pairs = lambda f: set(zip(f["user_id"], f["item_id"], strict=True))  # noqa: E731
    assert pairs(train) | pairs(test) == pairs(everything) and not pairs(train) & pairs(test)
    per_user = everything.groupby("user_id").size()
    held = test.groupby("user_id").size().reindex(per_user.index, fill_value=0)
    assert (held == np.floor(per_user * 0.3)).all()  # so a user with one or two items stays in training
    other_train, _ = split_random(many, rules, test_fraction=0.3, seed=8)
    assert pairs(other_train) != pairs(train)


def test_random_split_matrices_match_the_frames(many):
    rules = InteractionRules(WEIGHTS)
    train, test = split_matrices(many, rules, "random-per-user", test_fraction=0.3, seed=7)
    train_frame, test_frame = split_random(many, rules, 0.3, 7)
    assert train.user_items.nnz == len(train_frame) and test.user_items.nnz == len(test_frame)
    assert set(test.user_ids) == set(test_frame["user_id"])


def test_unknown_split_is_refused(many):
    with pytest.raises(ValueError, match="split must be 'time' or 'random-per-user', got 'kfold'"):
        split_matrices(many, InteractionRules(WEIGHTS), "kfold")


def test_seen_matrix_marks_every_touched_pair_even_returned_ones(load):
    con = load(
        log(("a", "x", "purchase", 0), ("a", "x", "return", 1), ("a", "y", "view", 0), ("b", "x", "view", 0))
    )
    data = load_matrix(con, InteractionRules(WEIGHTS))
    seen = seen_matrix(con, None, data)
    assert seen.shape == data.shape
    assert seen.toarray().tolist() == [[1.0, 1.0], [1.0, 0.0]]  # users a, b x items x, y
    assert data.user_items.toarray().tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_quality_summary_counts_what_the_run_saw(load):
    con = load(
        log(("a", "x", "view", 0), ("a", "y", "purchase", 2), ("b", "x", "cart", 1), ("b", "x", "view", 3))
    )
    data = load_matrix(con, InteractionRules(WEIGHTS))
    report = IngestReport(["f"], [], ["g"], 4, 1, {"unknown event_type": 1})
    quality = quality_summary(con, report.as_dict(), data)
    assert (quality.rows_in, quality.rows_loaded, quality.rows_quarantined) == (5, 4, 1)
    assert quality.event_types == {"view": 2, "cart": 1, "purchase": 1}
    assert (quality.users, quality.items, quality.interactions, quality.density) == (2, 2, 3, 0.75)
    assert (quality.first_event, quality.last_event) == ("2026-01-01 00:00:00", "2026-01-04 00:00:00")
    text = quality.text()
    assert "rows in 5: loaded 4, quarantined 1 (unknown event_type 1)" in text
    assert "changed files not loaded: g" in text


def test_flow_task_prints_and_returns_the_summary(load, tmp_path, capsys):
    con = load(log(("a", "x", "view", 0), ("b", "x", "cart", 1)))
    con.close()
    settings = PipelineSettings(warehouse=tmp_path / "w0.duckdb")
    with warehouse.connect(settings.warehouse, read_only=True) as ro:
        data = load_matrix(ro, InteractionRules.from_settings(settings))
    quality = flow.summarize_data.fn(settings, IngestReport(rows_loaded=2), data)
    assert quality["users"] == 2 and quality["rows_loaded"] == 2
    assert "training matrix: 2 users x 1 items, 2 interactions, density 100.000%" in capsys.readouterr().out
