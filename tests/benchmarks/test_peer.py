"""The peer benchmark's conversions between our interactions and Spark's rows are exact.

The conversions are numpy / pandas and run in every test run; the round trip through a real
Spark session needs the ``peer`` extra (pyspark) and Java, skips without them, and is slow
(a JVM starts), so it runs with ``-m slow`` only.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import peer, peer_spark
from benchmarks import run as bench
from pipeline.data.interactions import Interactions

HOSTILE_ITEMS = np.array(["a#1", "b,2", "c/3", "é-ü", "x" * 3000, "[*?]"])


def interactions(matrix: sp.csr_matrix, item_ids: np.ndarray | None = None) -> Interactions:
    users = np.array([f"u{i:03d}" for i in range(matrix.shape[0])])
    items = item_ids if item_ids is not None else np.array([f"i{j:03d}" for j in range(matrix.shape[1])])
    return Interactions(matrix, users, items)


def from_rows(rows, shape: tuple[int, int]) -> sp.csr_matrix:
    return sp.csr_matrix((rows["rating"], (rows["user"], rows["item"])), shape=shape)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 9),
    st.floats(0.05, 1.0),
    st.integers(0, 2**16),
)
def test_rating_rows_rebuild_the_same_matrix(n_users, n_items, density, seed):
    matrix = sp.random(n_users, n_items, density=density, format="csr", dtype=np.float32, random_state=seed)
    matrix.data = (matrix.data * 9 + 0.125).astype(np.float32)
    rows = peer_spark.rating_rows(interactions(matrix))
    assert list(rows.columns) == ["user", "item", "rating"]
    assert rows["user"].dtype == np.int32 and rows["item"].dtype == np.int32
    assert len(rows) == matrix.nnz
    rebuilt = from_rows(rows, matrix.shape)
    assert (rebuilt != matrix).nnz == 0
    np.testing.assert_array_equal(rebuilt.toarray(), matrix.toarray())  # bit for bit, float32


def test_ranked_lists_name_our_item_ids_and_pad():
    lists = peer_spark.ranked_lists(np.array([2, 0]), [[5, 0, 3], [1]], n_users=4, k=3)
    assert lists.tolist() == [[1, -1, -1], [-1, -1, -1], [5, 0, 3], [-1, -1, -1]]
    assert HOSTILE_ITEMS[lists[2]].tolist() == ["[*?]", "a#1", "é-ü"]


def test_ranked_lists_keep_only_k():
    assert peer_spark.ranked_lists(np.array([0]), [[4, 3, 2, 1]], 1, 2).tolist() == [[4, 3]]


def test_factor_matrix_puts_each_row_at_its_id_and_zero_where_spark_has_none():
    out = peer_spark.factor_matrix(np.array([3, 0]), [[1.5, -2.0], [0.25, 4.0]], n=5, rank=2)
    assert out.dtype == np.float32
    assert out.tolist() == [[0.25, 4.0], [0, 0], [0, 0], [1.5, -2.0], [0, 0]]


@pytest.mark.parametrize(
    ("ids", "rule"),
    [(np.array([0, 5]), r"\[0, 5\)"), (np.array([-1]), r"\[0, 5\)"), (np.array([1, 1]), "unique")],
)
def test_factor_matrix_refuses_ids_it_cannot_place(ids, rule):
    with pytest.raises(ValueError, match=rule):
        peer_spark.factor_matrix(ids, [[0.0]] * len(ids), n=5, rank=1)


def test_the_peer_group_is_opt_in():
    assert "peer" not in bench.DEFAULT_GROUPS
    assert "peer" in bench.GROUPS
    with pytest.raises(ValueError, match="--only must name groups"):
        bench.run("tiny", ["spark"])


def test_spark_grid_points_cover_the_grid():
    points = peer.grid_points(peer.GRIDS["small"])
    assert len(points) == 12
    assert {(p.rank, p.reg_param, p.alpha) for p in points} == {
        (r, g, a) for r in (32, 64) for g in (0.01, 0.1, 1.0) for a in (1.0, 10.0)
    }


@pytest.mark.slow
def test_through_spark_and_back(tmp_path):
    """The rows survive a real Spark DataFrame; a fitted model's factors read back rank items as
    Spark's own recommendForAllUsers does, and its lists name our item ids."""
    pytest.importorskip("pyspark")
    rng = np.random.default_rng(0)
    matrix = sp.random(30, 6, density=0.5, format="csr", dtype=np.float32, random_state=1)
    matrix.data = rng.integers(1, 6, matrix.nnz).astype(np.float32)
    data = interactions(matrix, HOSTILE_ITEMS)
    engine = peer_spark.SparkEngine(cores=1, blocks=2, driver_memory="1g")
    spark = peer_spark.session(engine, tmp_path)
    try:
        frame = peer_spark.ratings_frame(spark, data, engine)
        back = from_rows(frame.toPandas(), matrix.shape)
        np.testing.assert_array_equal(back.toarray(), matrix.toarray())
        model, seconds = peer_spark.fit(frame, peer_spark.SparkParams(4, 0.1, 1.0, max_iter=3), engine)
        users, items = peer_spark.factors(model, data.shape)
        assert seconds > 0 and users.shape == (30, 4) and items.shape == (6, 4)
        assert peer.agreement(model, users, items) == 1.0
        lists = peer_spark.collected_lists(model, 3, data.shape[0])
        expected = np.argsort(-(users @ items.T), axis=1, kind="stable")[:, :3]
        assert HOSTILE_ITEMS[lists].tolist() == HOSTILE_ITEMS[expected].tolist()
    finally:
        spark.stop()


def test_records_give_ratios_against_spark_and_judge_the_goal():
    ours = {"fit_s": 1.0, "topk_s": 0.5, "ndcg@10": 0.30, "params": {}}
    row = {
        "dataset": "d", "users": 3, "items": 2, "train_pairs": 4, "test_users": 1, "k": 50,
        "load_average": [1.0, 1.0], "spark_lists_agreement": 1.0, "ours_configured_ndcg@10": 0.2,
        "ours_configured_params": {}, "spark_jvm_peak_rss_mb": None,
        "ours": {"equal trials": ours | {"ndcg@10": 0.29}, "equal search time": ours},
        "spark": {"fit_s": 16.0, "topk_s": 3.0, "ndcg@10": 0.30, "params": {}, "search_s": 1.0, "trials": []},
    }  # fmt: skip
    out = peer.records(row)
    assert [(r["name"], r["ratio"], r["speedup"], r["goal_met"]) for r in out] == [
        ("peer: ALS fit vs Spark ALS.fit (d; ours tuned: equal trials)", 0.0625, 16.0, False),
        ("peer: top-k all users vs Spark (d; ours tuned: equal trials)", 0.1667, 6.0, False),
        ("peer: ALS fit vs Spark ALS.fit (d; ours tuned: equal search time)", 0.0625, 16.0, True),
        ("peer: top-k all users vs Spark (d; ours tuned: equal search time)", 0.1667, 6.0, False),
    ]
    assert "peer:" in peer.table(out) and "16.0x" in peer.table(out)


def test_without_pyspark_the_benchmark_says_which_extra_it_needs(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # as if not installed: importing it raises
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(
        peer_spark.PeerUnavailable, match=r"pyspark, which is not installed: pip install -e '\.\[peer\]'"
    ):
        peer_spark.session(peer_spark.SparkEngine(), tmp_path)
