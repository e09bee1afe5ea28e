"""The sampling benchmark: both sides measured in the same run, the gate judged both ways."""

from __future__ import annotations

import pytest

from benchmarks import sampling


@pytest.mark.slow
def test_the_sampled_side_is_measured_next_to_the_whole_and_the_gate_agrees():
    good, weak, search = sampling.run("tiny", cap=150, budget=2.0)
    for found in (good, weak):
        assert found["held_out_users"] > 150
        assert {m["users"] for m in found["sample"].values()} == {150}
        assert {m["users"] for m in found["whole"].values()} == {found["held_out_users"]}
        assert found["sample"]["model"]["ci95"] > found["whole"]["model"]["ci95"] > 0
        assert found["gate_on_sample"] == found["gate_on_whole"]
    assert good["gate_on_whole"] and not weak["gate_on_whole"]
    for side in ("sample", "whole"):  # each winner measured on every held-out user
        assert search[side]["holdout"]["users"] == good["held_out_users"]
        assert search[side]["trials"]["complete"] >= 1
    assert search["users"] > 150
