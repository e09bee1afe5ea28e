"""Evaluation: metrics against hand-computed cases, splits, slices, baselines, and ``recs evaluate``."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pipeline import cli, evaluate, interactions, synthetic, train, warehouse
from pipeline.ingest import ingest
from pipeline.interactions import Interactions
from pipeline.settings import ALSParams
from tests.model_data import TINY, pairs, synthetic_interactions


def relevant(n_items: int, *rows: list[int]) -> sp.csr_matrix:
    dense = np.zeros((len(rows), n_items))
    for r, items in enumerate(rows):
        dense[r, items] = 1
    return sp.csr_matrix(dense)


LOG2_3 = math.log2(3)

# (recommended row, held-out items, k, expected metrics), worked out by hand
CASES = [
    pytest.param(
        [0, 1, 2],
        [0, 2],
        3,
        {
            "precision": 2 / 3,
            "recall": 1.0,
            "ndcg": (1 + 1 / 2) / (1 + 1 / LOG2_3),
            "map": (1 + 2 / 3) / 2,
            "hit_rate": 1.0,
            "mrr": 1.0,
        },
        id="hits at ranks 1 and 3",
    ),
    pytest.param(
        [3, 1, 0],
        [0],
        3,
        {"precision": 1 / 3, "recall": 1.0, "ndcg": 0.5, "map": 1 / 3, "hit_rate": 1.0, "mrr": 1 / 3},
        id="one hit at rank 3",
    ),
    pytest.param(
        [1, 2, 3],
        [0],
        3,
        {"precision": 0.0, "recall": 0.0, "ndcg": 0.0, "map": 0.0, "hit_rate": 0.0, "mrr": 0.0},
        id="no hit",
    ),
    pytest.param(
        [0, 1, 5],
        [0, 1, 2, 3],
        2,
        {"precision": 1.0, "recall": 0.5, "ndcg": 1.0, "map": 1.0, "hit_rate": 1.0, "mrr": 1.0},
        id="more held-out items than k: only the first k count",
    ),
    pytest.param(
        [-1, -1, 0],
        [0],
        3,
        {"precision": 1 / 3, "recall": 1.0, "ndcg": 0.5, "map": 1 / 3, "hit_rate": 1.0, "mrr": 1 / 3},
        id="-1 padding never hits",
    ),
    pytest.param(
        [4, 0],
        [0, 4],
        2,
        {"precision": 1.0, "recall": 1.0, "ndcg": 1.0, "map": 1.0, "hit_rate": 1.0, "mrr": 1.0},
        id="perfect list",
    ),
]


@pytest.mark.parametrize(("row", "held_out", "k", "expected"), CASES)
def test_ranking_metrics_match_hand_computed_values(row, held_out, k, expected):
    metrics = evaluate.ranking_metrics(np.array([row]), relevant(6, held_out), k)
    assert {name: metrics[f"{name}@{k}"] for name in expected} == pytest.approx(expected)
    assert metrics["users"] == 1


def test_metrics_average_over_users_with_held_out_items_only():
    recommended = np.array([[0, 1], [2, 3], [4, 5]])
    metrics = evaluate.ranking_metrics(recommended, relevant(6, [0], [], [5]), 2)
    assert metrics["users"] == 2
    assert metrics["precision@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert metrics["mrr@2"] == pytest.approx((1 + 1 / 2) / 2)


def test_several_k_at_once_equal_one_k_at_a_time():
    rng = np.random.default_rng(0)
    recommended = np.stack([rng.permutation(50)[:20] for _ in range(30)])
    held = sp.csr_matrix((rng.random((30, 50)) < 0.1).astype(float))
    together = evaluate.ranking_metrics(recommended, held, [5, 10, 20])
    for k in (5, 10, 20):
        alone = evaluate.ranking_metrics(recommended, held, k)
        assert {m: together[m] for m in alone if m != "users"} == pytest.approx(
            {m: v for m, v in alone.items() if m != "users"}
        )


def test_metrics_refuse_an_empty_holdout_and_mismatched_rows():
    with pytest.raises(evaluate.EvaluationError, match="no user has held-out items"):
        evaluate.ranking_metrics(np.array([[0, 1]]), relevant(3, []), 2)
    with pytest.raises(evaluate.EvaluationError, match="recommended has 1 rows but relevant has 2"):
        evaluate.ranking_metrics(np.array([[0, 1]]), relevant(3, [0], [1]), 2)


def test_coverage_and_popularity_rank():
    # item popularity (distinct users): item0 3, item1 2, item2 1, item3 0 -> ranks 0, 1, 2, 3
    train_items = sp.csr_matrix(np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=float))
    ranks = evaluate.popularity_ranks(train_items)
    assert ranks.tolist() == [0, 1, 2, 3]
    assert evaluate.popularity_rank(np.array([[0, 2], [-1, 2]]), ranks) == pytest.approx((0 + 2 + 2) / 3 / 3)
    assert evaluate.coverage(np.array([[0, 1], [1, -1]]), 4) == 0.5


def test_popularity_curve_shares_sum_to_one_and_popular_lists_sit_in_the_head():
    data = synthetic_interactions()
    popular = np.tile(np.argsort(-np.diff(data.user_items.tocsc().indptr))[:10], (5, 1))
    curve = evaluate.popularity_curve({"popular": popular}, data.user_items, bins=10)
    assert sum(curve["interactions"]) == pytest.approx(1.0)
    assert sum(curve["popular"]) == pytest.approx(1.0)
    assert curve["popular"][0] == pytest.approx(1.0)  # 10 most popular of 200 items: the first 10%


def test_metrics_are_vectorised_for_a_hundred_thousand_users():
    """Not a timing test: checks the shape of the work (no per-user loop) gives exact answers at scale."""
    n, items = 100_000, 5_000
    rng = np.random.default_rng(1)
    recommended = rng.integers(0, items, (n, 10))
    held = sp.csr_matrix((np.ones(n), (np.arange(n), recommended[:, 3])), shape=(n, items))
    metrics = evaluate.ranking_metrics(recommended, held, 10)
    first = (recommended == recommended[:, [3]]).argmax(axis=1) + 1  # duplicates may hit earlier
    assert metrics["hit_rate@10"] == 1.0
    assert metrics["mrr@10"] == pytest.approx((1 / first).mean())


# --- splits -------------------------------------------------------------------------------------


def test_split_per_user_is_deterministic_disjoint_and_complete():
    data = synthetic_interactions()
    a = evaluate.split_per_user(data, 0.2, seed=7)
    b = evaluate.split_per_user(data, 0.2, seed=7)
    c = evaluate.split_per_user(data, 0.2, seed=8)
    assert pairs(a.test) == pairs(b.test) and pairs(a.test) != pairs(c.test)
    assert pairs(a.train.user_items).isdisjoint(pairs(a.test))
    assert pairs(a.train.user_items) | pairs(a.test) == pairs(data.user_items)
    counts = np.diff(data.user_items.indptr)
    assert (np.diff(a.train.user_items.indptr)[counts >= 1] >= 1).all()  # everyone keeps a training item
    assert np.diff(a.test.indptr)[counts == 1].sum() == 0  # one-item users are not held out
    assert a.test.nnz / data.user_items.nnz == pytest.approx(0.2, abs=0.05)


def test_split_per_user_refuses_a_fraction_outside_0_1():
    with pytest.raises(evaluate.EvaluationError, match="test_fraction must be between 0 and 1"):
        evaluate.split_per_user(synthetic_interactions(), 1.0, seed=0)


def test_make_holdout_keeps_only_new_pairs_of_known_users_and_items():
    train_part = Interactions(
        sp.csr_matrix(np.array([[1.0, 0, 1], [0, 1, 0]])), np.array(["a", "b"]), np.array(["x", "y", "z"])
    )
    later = Interactions(
        sp.csr_matrix(np.array([[0.0, 1, 1], [1, 1, 1], [1, 0, 0]])),
        np.array(["a", "b", "new"]),
        np.array(["w", "x", "y"]),
    )
    holdout = evaluate.make_holdout(train_part, later)
    # a: x seen before, y new; b: w unknown item, x new, y seen; "new" is an unknown user
    assert pairs(holdout.test) == {(0, 1), (1, 0)}
    assert holdout.test_users.tolist() == [0, 1]


@pytest.fixture(scope="module")
def warehouse_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval-wh")
    files = synthetic.write_daily(TINY, root / "events")
    path = root / "warehouse.duckdb"
    with warehouse.connect(path) as con:
        ingest(con, files, {}, ["view", "cart", "purchase"], 0.0)
    return path, root / "events"


@pytest.mark.parametrize("split", ["time", "random-per-user"])
def test_load_holdout_reads_either_split_from_a_warehouse(warehouse_file, split):
    rules = interactions.InteractionRules({"view": 1.0, "cart": 3.0, "purchase": 5.0})
    with warehouse.connect(warehouse_file[0], read_only=True) as con:
        holdout = evaluate.load_holdout(con, rules, split, 2, 0.2, 3)
    assert len(holdout.test_users) > 50
    assert pairs(holdout.train.user_items).isdisjoint(pairs(holdout.test))


def test_load_holdout_names_an_unknown_split(warehouse_file):
    rules = interactions.InteractionRules({"view": 1.0})
    with (
        warehouse.connect(warehouse_file[0], read_only=True) as con,
        pytest.raises(evaluate.EvaluationError, match="split must be one of .* got 'leave-one-out'"),
    ):
        evaluate.load_holdout(con, rules, "leave-one-out", 2, 0.2, 3)


# --- slices and the whole measurement ------------------------------------------------------------


def test_user_slices_by_activity_and_attribute():
    # training items per user: 1, 2, 5, 10
    dense = np.zeros((4, 12))
    for user, n in enumerate([1, 2, 5, 10]):
        dense[user, :n] = 1
    countries = pd.Series(["GB", "DE", "GB", None], index=[0, 1, 2, 3], name="country").dropna()
    slices = evaluate.user_slices(
        sp.csr_matrix(dense), np.array([0, 1, 2, 3]), countries, cold_max=2, heavy_quantile=0.75
    )
    assert slices["cold (<= 2 items)"].tolist() == [True, True, False, False]
    heavy = next(name for name in slices if name.startswith("heavy"))
    assert slices[heavy].tolist() == [False, False, False, True]
    assert slices["country=GB"].tolist() == [True, False, True, False]
    assert slices["country=DE"].tolist() == [False, True, False, False]


def test_long_tail_drops_the_items_that_hold_the_head_of_interactions():
    # popularity: item0 4 users, item1 2, item2 1, item3 1: item0 alone holds half the interactions
    train_items = sp.csr_matrix(
        np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]], dtype=float)
    )
    tail = evaluate.long_tail(relevant(4, [0, 1], [0, 3]), train_items)
    assert pairs(tail) == {(0, 1), (1, 3)}


@pytest.fixture(scope="module")
def fitted():
    holdout = evaluate.split_per_user(synthetic_interactions(), 0.2, seed=0)
    params = ALSParams(factors=16, regularization=5.0, alpha=5.0, iterations=8)
    return holdout, params, train.fit(holdout.train, params)


def test_a_trained_model_beats_most_popular_overall_and_on_the_slices(fitted):
    holdout, _, model = fitted
    countries = pd.Series(np.where(np.arange(holdout.train.shape[0]) % 3, "GB", "DE"), name="country")
    result = evaluate.evaluate_candidate(model, holdout, 10, [5, 20], countries)
    assert set(result.overall) == {"model", "popular", "item_knn"}
    assert result.overall["model"]["ndcg@10"] > result.overall["popular"]["ndcg@10"]
    assert {"country=GB", "country=DE", "long-tail items"} <= set(result.slices)
    assert (
        result.slices["country=GB"]["model"]["users"] + result.slices["country=DE"]["model"]["users"]
        == (result.overall["model"]["users"])
    )
    assert result.overall["popular"]["coverage@10"] < result.overall["model"]["coverage@10"]
    assert {"ndcg@5", "ndcg@20", "popularity_rank", "coverage"} <= set(result.overall["model"])


def test_the_published_version_is_refitted_on_this_training_part_not_scored_with_its_own_factors(fitted):
    """Leakage rule: the published model's parameters are refitted on the holdout's training part;
    the same parameters therefore score exactly as the candidate, whatever the old factors knew."""
    holdout, params, model = fitted
    result = evaluate.evaluate_candidate(model, holdout, 10, published_params=params)
    assert result.overall["published"] == result.overall["model"]


def test_summary_has_the_documented_shape(fitted):
    holdout, params, model = fitted
    summary = evaluate.as_summary(evaluate.evaluate_candidate(model, holdout, 10), params.model_dump())
    assert {"ndcg@10", "precision@10", "recall@10", "map@10", "coverage"} <= set(summary["model"])
    assert set(summary["baselines"]) == {"popular", "item_knn"}
    assert summary["k"] == 10 and summary["params"]["factors"] == 16


# --- the command ---------------------------------------------------------------------------------


def test_recs_evaluate_prints_a_json_summary_last(warehouse_file, capsys):
    events = str(warehouse_file[1])
    code = cli.main(
        ["evaluate", "--events", events, "--split", "random-per-user", "--test-fraction", "0.2", "--k", "5"]
        + ["--seed", "1", "--trials", "2", "--json"]
    )
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert summary["k"] == 5
    assert {"ndcg@5", "precision@5", "recall@5", "map@5", "coverage"} <= set(summary["model"])
    assert set(summary["baselines"]) == {"popular", "item_knn"}
    assert {"factors", "regularization", "alpha", "iterations"} <= set(summary["params"])


def test_recs_evaluate_rejects_both_a_fraction_and_days():
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--events", "x", "--test-fraction", "0.2", "--holdout-days", "3"])


def test_recs_evaluate_names_a_missing_event_path(tmp_path, capsys):
    assert cli.main(["evaluate", "--events", str(tmp_path / "nope")]) == 1
    assert "no such file or directory" in capsys.readouterr().err
