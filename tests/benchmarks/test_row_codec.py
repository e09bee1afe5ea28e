"""The row-encoding benchmark: both encoders over the same version (no timing limits)."""

from __future__ import annotations

import contract
from benchmarks import row_codec
from pipeline.publish import writer


def test_both_encoders_write_the_same_lists_and_the_stage_reports_both():
    pre = row_codec.version_with_categories(300)
    new = list(writer.version_rows("v", pre, 1))
    old = list(row_codec.layout_1_rows("v", pre, 1))
    table = writer.category_table(pre)
    assert [r["pk"] for r in new] == [r["pk"] for r in old]
    assert [contract.decode_row(r, table) for r in new] == [contract.decode_row(r) for r in old]
    record = row_codec.encode_stage(300, repeats=1)
    assert record["rows"] == pre.n_rows and record["seconds"] > 0 and record["baseline_seconds"] > 0
    mean, largest = record["user_row_bytes_mean_max"]
    old_mean, old_largest = record["baseline_user_row_bytes_mean_max"]
    assert mean < old_mean and largest < contract.WRITE_UNIT_BYTES < old_largest
