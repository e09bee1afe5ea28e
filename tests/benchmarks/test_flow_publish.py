"""The flow's publishing benchmark compares the same rows only: the fingerprint the flow registered."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from benchmarks import flow_publish
from benchmarks.publish import synthetic_version
from pipeline.publish import writer


@dataclass(frozen=True)
class Where:
    table_name: str


def test_the_rebuilt_rows_must_be_the_ones_the_flow_published(dynamodb, table_name):
    published = synthetic_version(40, seed=0)
    writer.publish(dynamodb, table_name, "v1", published, {}, ttl_days=1, workers=2)

    flow_publish.same_rows_or_raise(dynamodb, Where(table_name), "v1", synthetic_version(40, seed=0))
    with pytest.raises(RuntimeError, match="not the ones the flow published"):
        flow_publish.same_rows_or_raise(dynamodb, Where(table_name), "v1", synthetic_version(40, seed=1))
    with pytest.raises(RuntimeError, match="rows rebuilt for v2"):
        flow_publish.same_rows_or_raise(dynamodb, Where(table_name), "v2", published)


def test_the_ratio_is_taken_from_the_best_side_by_side_runs():
    found = {"rows": 1000, "flow": [4.0, 3.0], "bare": [2.0, 2.7], "publish_workers": 4}
    side_by_side, in_flow = flow_publish.records(found, recorded=5.0, peak=100.0)
    assert side_by_side["seconds"] == 3.0 and side_by_side["baseline_seconds"] == 2.0
    assert side_by_side["throughput_ratio"] == pytest.approx(2.0 / 3.0, abs=1e-3)
    assert side_by_side["flow_runs"] == [4.0, 3.0] and side_by_side["bare_runs"] == [2.0, 2.7]
    assert in_flow["seconds"] == 5.0 and in_flow["throughput_ratio"] == pytest.approx(0.4)
