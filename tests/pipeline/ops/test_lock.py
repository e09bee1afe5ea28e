"""The nightly lock: one DynamoDB item with a lease, against moto's server over HTTP."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from pipeline.ops import lock
from pipeline.ops.concurrency import RunInProgressError
from pipeline.publish import dynamo


@pytest.fixture
def table(dynamodb, table_name) -> str:
    dynamo.check_table(dynamodb, table_name, create=True)
    return table_name


def test_a_second_holder_is_refused_with_the_holder_and_the_lease_end(dynamodb, table):
    first = lock.acquire(dynamodb, table, "box-a:pid1:aaa", lease_seconds=60, now=1_800_000_000)
    with pytest.raises(
        RunInProgressError, match=r"box-a:pid1:aaa, whose lease ends 2027-01-15T08:01:00\+00:00"
    ):
        lock.acquire(dynamodb, table, "box-b:pid2:bbb", lease_seconds=60, now=1_800_000_030)
    assert lock.current(dynamodb, table) == first


def test_a_lease_that_ended_is_taken_over_and_the_old_holder_cannot_renew_or_release(dynamodb, table):
    dead = lock.acquire(dynamodb, table, "dead:pid1:aaa", lease_seconds=60, now=1_800_000_000)
    taken = lock.acquire(dynamodb, table, "live:pid2:bbb", lease_seconds=60, now=1_800_000_061)
    assert lock.current(dynamodb, table) == taken
    with pytest.raises(lock.LockLostError, match="no longer held by dead:pid1:aaa"):
        lock.renew(dynamodb, table, dead, 60)
    lock.release(dynamodb, table, dead)  # not its own any more: left alone
    assert lock.current(dynamodb, table) == taken


def test_held_renews_while_the_block_runs_and_releases_after(dynamodb, table):
    with lock.held(dynamodb, table, lease_seconds=1.5, holder="me:pid1:ccc") as holding:
        first_end = holding.lease.expires_at
        time.sleep(2.5)  # past the first lease: renewed twice meanwhile
        assert lock.current(dynamodb, table).expires_at > first_end  # type: ignore[union-attr]
        with pytest.raises(RunInProgressError, match="me:pid1:ccc"):
            lock.acquire(dynamodb, table, "other:pid2:ddd", lease_seconds=5)
        holding.check()  # still ours
    assert lock.current(dynamodb, table) is None


RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pipeline.ops.state import shared_state
    from pipeline.settings import load_settings

    @shared_state
    def job(settings=None):
        print("ran", flush=True)
        time.sleep(4)

    go = Path(sys.argv[2])
    print("waiting", flush=True)
    while not go.exists():
        time.sleep(0.01)
    job(settings=load_settings(table_name=sys.argv[1], warehouse=sys.argv[3]))
    """
)


def test_two_runs_started_at_once_from_two_processes_one_runs_the_other_names_the_lock(
    local_aws, table, tmp_path
):
    from pipeline.cli import main  # noqa: F401 (the same imports the processes need, warm in the cache)

    go = tmp_path / "go"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN, table, str(go), str(tmp_path / f"w{i}.duckdb")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for run in runs:  # both imported and waiting, however long a busy machine takes to import
        assert run.stdout.readline() == "waiting\n", run.communicate()[1][-2000:]
    go.touch()
    results = [(run.wait(120), *run.communicate()) for run in runs]
    ran = [r for r in results if r[0] == 0]
    refused = [r for r in results if r[0] != 0]
    assert len(ran) == 1 and ran[0][1] == "ran\n"
    assert len(refused) == 1 and refused[0][1] == ""
    assert "RunInProgressError: another nightly run holds the lock" in refused[0][2]
    assert f"DynamoDB table {table}" in refused[0][2] and "whose lease ends" in refused[0][2]
