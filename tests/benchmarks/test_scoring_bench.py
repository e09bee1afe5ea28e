"""The scoring benchmark: every user scored on each cluster size, next to one thread in process."""

from __future__ import annotations

import pytest

from benchmarks import scoring


@pytest.mark.slow
def test_every_user_is_scored_on_each_cluster_size_next_to_the_in_process_baseline():
    from infra.local.synthetic import SCALES

    records = scoring.run("tiny", workers=[1, 2], iterations=1)
    assert [r["workers"] for r in records] == [1, 2] and [r["shards"] for r in records] == [2, 4]
    users = {r["users"] for r in records}
    assert len(users) == 1 and 0 < users.pop() <= SCALES["tiny"].users
    for found in records:
        assert found["seconds"] > 0 and found["baseline_seconds"] > 0  # the same users, both ways
        assert 0 < found["shard_input_bytes"] < found["whole_input_bytes"]
