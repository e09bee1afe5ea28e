"""The flow and warm-start benchmarks: their records add up (no timing limits)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from benchmarks import flow as flow_bench
from benchmarks import warm


def test_a_pair_split_keeps_every_pair_once():
    matrix = sp.random(50, 40, density=0.2, format="csr", random_state=3, dtype=np.float32)
    kept, held = warm.split_pairs(matrix, 0.25, seed=0)
    assert kept.nnz + held.nnz == matrix.nnz
    assert kept.multiply(held).nnz == 0  # no pair on both sides
    np.testing.assert_array_equal((kept + held).toarray(), matrix.toarray())
    assert 0.15 < held.nnz / matrix.nnz < 0.35


def test_the_warm_start_record_compares_it_with_cold_fits_of_several_seeds():
    (record,) = warm.run("tiny", iterations=3, seeds=2)
    assert record["name"] == "warm start (3 it.) vs cold fit (15 it.), tiny"
    assert len(record["cold_ndcg@10"]) == 2
    assert record["ratio"] == pytest.approx(record["seconds"] / record["baseline_seconds"], abs=0.01)
    cold = float(np.mean(record["cold_ndcg@10"]))
    assert record["warm_minus_cold_mean"] == pytest.approx(record["warm_ndcg@10"] - cold, abs=1e-3)
    assert abs(record["warm_minus_cold_mean"]) < 0.05  # a tiny log: the same quality, give or take


@pytest.mark.slow
def test_the_flow_bench_reports_the_flows_own_stages_and_publishing_next_to_the_bare_loop(tmp_path):
    records = {r["name"]: r for r in flow_bench.run("tiny", dask_workers=[1], workdir=tmp_path)}
    for stage in ("ingest_events", "fit_model", "refit_model", "score_users", "publish_version"):
        assert records[f"flow: {stage}"]["task_runs"] == 1, stage
    whole = records["nightly flow (measured)"]
    without = records["nightly flow without publishing (measured)"]
    publish = records["flow: publish_version"]["seconds"]
    assert without["seconds"] == pytest.approx(whole["seconds"] - publish, abs=0.01)
    assert sum(s["seconds"] for s in whole["stages"].values()) <= whole["seconds"] + 0.5
    quality = whole["quality"]  # tiny: under both caps, so no sample; every trial counted once
    assert quality["eval_sampled_from"] is None and quality["search_sampled_users"] is None
    assert quality["trials"]["complete"] >= 1 and quality["holdout"]["model"]["users"] > 0
    assert quality["holdout"]["model"]["ci95"] > 0
    (side,) = [r for name, r in records.items() if name.startswith("publish (the flow's task) vs bare")]
    # the same rows both ways (checked by fingerprint): a user's, an item's, the popular lists
    assert side["rows"] >= whole["users"] + whole["items"] + 1
    assert len(side["flow_runs"]) == len(side["bare_runs"]) == 2
    assert side["seconds"] == pytest.approx(min(side["flow_runs"]), abs=0.01)
    assert side["baseline_seconds"] == pytest.approx(min(side["bare_runs"]), abs=0.01)
    (in_flow,) = [r for name, r in records.items() if name.startswith("publish inside the flow")]
    assert in_flow["seconds"] == pytest.approx(publish, abs=0.01)
    (dask,) = [r for name, r in records.items() if name.startswith("top-k on Dask")]
    assert dask["users"] == whole["users"] and dask["workers"] == 1
    assert 0 < dask["shard_input_bytes"] < dask["whole_input_bytes"]  # half the users' rows
