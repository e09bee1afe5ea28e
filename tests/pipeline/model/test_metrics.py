"""Ranking metrics: hand-computed cases, averaging, several k, coverage and popularity, vectorised."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from pipeline.model import metrics as ranking
from tests.model_data import relevant, synthetic_interactions

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
    metrics = ranking.ranking_metrics(np.array([row]), relevant(6, held_out), k)
    assert {name: metrics[f"{name}@{k}"] for name in expected} == pytest.approx(expected)
    assert metrics["users"] == 1


def test_metrics_average_over_users_with_held_out_items_only():
    recommended = np.array([[0, 1], [2, 3], [4, 5]])
    metrics = ranking.ranking_metrics(recommended, relevant(6, [0], [], [5]), 2)
    assert metrics["users"] == 2
    assert metrics["precision@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert metrics["mrr@2"] == pytest.approx((1 + 1 / 2) / 2)


def test_several_k_at_once_equal_one_k_at_a_time():
    rng = np.random.default_rng(0)
    recommended = np.stack([rng.permutation(50)[:20] for _ in range(30)])
    held = sp.csr_matrix((rng.random((30, 50)) < 0.1).astype(float))
    together = ranking.ranking_metrics(recommended, held, [5, 10, 20])
    for k in (5, 10, 20):
        alone = ranking.ranking_metrics(recommended, held, k)
        assert {m: together[m] for m in alone if m != "users"} == pytest.approx(
            {m: v for m, v in alone.items() if m != "users"}
        )


def test_metrics_refuse_an_empty_holdout_and_mismatched_rows():
    with pytest.raises(ranking.EvaluationError, match="no user has held-out items"):
        ranking.ranking_metrics(np.array([[0, 1]]), relevant(3, []), 2)
    with pytest.raises(ranking.EvaluationError, match="recommended has 1 rows but relevant has 2"):
        ranking.ranking_metrics(np.array([[0, 1]]), relevant(3, [0], [1]), 2)


def test_coverage_and_popularity_rank():
    # item popularity (distinct users): item0 3, item1 2, item2 1, item3 0 -> ranks 0, 1, 2, 3
    train_items = sp.csr_matrix(np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=float))
    ranks = ranking.popularity_ranks(train_items)
    assert ranks.tolist() == [0, 1, 2, 3]
    assert ranking.popularity_rank(np.array([[0, 2], [-1, 2]]), ranks) == pytest.approx((0 + 2 + 2) / 3 / 3)
    assert ranking.coverage(np.array([[0, 1], [1, -1]]), 4) == 0.5


def test_popularity_curve_shares_sum_to_one_and_popular_lists_sit_in_the_head():
    data = synthetic_interactions()
    popular = np.tile(np.argsort(-np.diff(data.user_items.tocsc().indptr))[:10], (5, 1))
    curve = ranking.popularity_curve({"popular": popular}, data.user_items, bins=10)
    assert sum(curve["interactions"]) == pytest.approx(1.0)
    assert sum(curve["popular"]) == pytest.approx(1.0)
    assert curve["popular"][0] == pytest.approx(1.0)  # 10 most popular of 200 items: the first 10%


def test_metrics_are_vectorised_for_a_hundred_thousand_users():
    """Not a timing test: checks the shape of the work (no per-user loop) gives exact answers at scale."""
    n, items = 100_000, 5_000
    rng = np.random.default_rng(1)
    recommended = rng.integers(0, items, (n, 10))
    held = sp.csr_matrix((np.ones(n), (np.arange(n), recommended[:, 3])), shape=(n, items))
    metrics = ranking.ranking_metrics(recommended, held, 10)
    first = (recommended == recommended[:, [3]]).argmax(axis=1) + 1  # duplicates may hit earlier
    assert metrics["hit_rate@10"] == 1.0
    assert metrics["mrr@10"] == pytest.approx((1 / first).mean())
