"""The rules benchmark's decode stage: both layouts of one row, decoded alike (no timing limits)."""

from __future__ import annotations

import contract
from benchmarks import api_rules


def test_the_decode_stage_measures_both_layouts_of_the_same_row():
    record = api_rules.decode_stage(20)
    assert record["samples"] == 20 and record["seconds"] > 0 and record["baseline_seconds"] > 0
    assert record["bytes"] < contract.WRITE_UNIT_BYTES < record["baseline_bytes"]


def test_the_layout_1_row_is_what_layout_1_wrote():
    ranked = contract.RankedItems(("a", "b"), (0.5, 0.25), ("x", None))
    row = api_rules.layout_1_row(ranked)
    assert row["items"]["S"] == '["a","b"]' and row["scores"]["S"] == "[0.5,0.25]"
    assert row["cats"]["S"] == '[["x"],[0,-1]]'
    assert contract.decode_row(row) == ranked
