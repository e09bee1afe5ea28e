"""Scoring and publishing on a 2-process Dask LocalCluster (prefect-dask), against the local AWS.

The rows equal the single-process run's bit for bit; a part that fails once is retried alone;
a part that gives up keeps the pointer where it was and the version ``writing``. Faults are
botocore event hooks installed in every worker process (``distributed.Client.run``), firing
once across processes through a marker file.
"""

from __future__ import annotations

import json
import os

import boto3
import numpy as np
import pandas as pd
import pytest
from botocore.exceptions import ClientError
from threadpoolctl import threadpool_limits

import contract
from pipeline import fanout
from pipeline.model import train
from pipeline.ops import plan
from pipeline.publish import registry
from pipeline.settings import ALSParams
from tests.integration.test_operations import task_runs
from tests.model_data import synthetic_interactions
from tests.pipeline.publish.fixtures import version_rows_in_table

_HOOKS: list = []  # the hooks installed in this (worker) process


@pytest.fixture(scope="module")
def dask_address():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def faults(dask_address):
    """``arm(fail_once_marker, only_key, error)`` in every worker; removed after the test."""
    import distributed

    with distributed.Client(dask_address) as client:
        yield lambda *args: client.run(_install_fault, *args)
        client.run(_remove_faults)


def _install_fault(marker: str | None, only_key: str | None, error: str) -> None:
    """Fail BatchWriteItem calls (those carrying ``only_key``, if given): once across every process
    when ``marker`` names a file not made yet, else always."""

    def hook(request, **_):
        if only_key is not None and json.dumps(only_key) not in request.body.decode():
            return
        if marker is not None:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return
        if error == "reset":
            raise ConnectionResetError("connection reset by peer (injected)")
        raise ClientError({"Error": {"Code": error, "Message": "injected"}}, "BatchWriteItem")

    boto3._get_default_session().events.register("before-send.dynamodb.BatchWriteItem", hook)
    _HOOKS.append(hook)


def _remove_faults() -> None:
    while _HOOKS:
        boto3._get_default_session().events.unregister("before-send.dynamodb.BatchWriteItem", _HOOKS.pop())


@pytest.fixture(scope="module")
def scored():
    """A fitted model over a small synthetic log, its seen matrix and users' segments."""
    data = synthetic_interactions()
    with threadpool_limits(1, "blas"):
        model = train.fit(data, ALSParams(factors=8, iterations=3), use_gpu=False)
    segments = pd.Series(np.where(np.arange(data.shape[0]) % 3 == 0, "France", "Spain"))
    return model, data, data.user_items, segments


def publish(scored, settings, version: str = "v1", return_state: bool = False):
    model, data, seen, segments = scored
    args = (version, fanout.Inputs(model, data, seen, segments), {"model": {"ndcg@10": 0.2}}, settings)
    return fanout.on_runner(settings)(*args, return_state=return_state)


def rows_of(scored) -> int:
    """The version's row count: one per user, one per item, the global and two segments' lists."""
    users, items = scored[1].shape
    return users + items + 3


def stored(dynamodb, table: str, version: str) -> dict[str, dict]:
    """The version's rows by partition key, without the expiry (set from the clock at publish)."""
    rows = version_rows_in_table(dynamodb, table, version)
    return {row["pk"]["S"]: {k: v for k, v in row.items() if k != contract.TTL_ATTRIBUTE} for row in rows}


def test_the_dask_run_writes_the_single_process_rows_bit_for_bit(
    scored, run_settings, dask_address, dynamodb, prefect_harness
):
    single = run_settings(table_name="recs-single", k=10, similar_k=5)
    report = publish(scored, single)
    assert report.flipped and report.rows_written == rows_of(scored)

    sharded = run_settings(
        table_name="recs-dask", k=10, similar_k=5,
        task_runner="dask", dask_address=dask_address, score_shards=3, publish_shards=4,
    )  # fmt: skip
    report = publish(scored, sharded)
    assert report.flipped and report.rows_written == rows_of(scored)
    expected = stored(dynamodb, "recs-single", "v1")
    assert len(expected) == rows_of(scored)
    assert stored(dynamodb, "recs-dask", "v1") == expected
    assert plan.served_version(dynamodb, "recs-dask") == "v1"
    assert registry.registry_entry(dynamodb, "recs-dask", "v1").status == "published"


def test_a_part_that_fails_once_is_retried_alone_and_the_pointer_flips_after_it(
    scored, run_settings, dask_address, dynamodb, faults, tmp_path, prefect_harness
):
    faults(str(tmp_path / "failed-once"), None, "reset")
    settings = run_settings(
        k=10, similar_k=5, task_runner="dask", dask_address=dask_address, publish_shards=3
    )
    state = publish(scored, settings, return_state=True)
    report = state.result()
    assert (tmp_path / "failed-once").exists()  # the fault fired
    runs = task_runs(state.state_details.flow_run_id, "write_part")
    assert sorted(run.run_count for run in runs) == [1, 1, 2]  # only the failed part ran again
    assert report.flipped and report.rows_written == rows_of(scored)
    assert len(stored(dynamodb, settings.table_name, "v1")) == rows_of(scored)
    assert plan.served_version(dynamodb, settings.table_name) == "v1"


def test_a_part_that_gives_up_keeps_the_old_version_served(
    scored, run_settings, dask_address, dynamodb, faults, prefect_harness
):
    settings = run_settings(
        k=10, similar_k=5, task_runner="dask", dask_address=dask_address, publish_shards=3
    )
    assert publish(scored, settings, "v1").flipped
    _, data, _, _ = scored
    last_user = contract.user_pk(data.user_ids[-1])  # in the last part only
    faults(None, last_user, "AccessDeniedException")

    state = publish(scored, settings, "v2", return_state=True)
    assert state.is_failed()
    runs = task_runs(state.state_details.flow_run_id, "write_part")
    assert sorted(run.state.type.value for run in runs) == ["COMPLETED", "COMPLETED", "FAILED"]
    assert plan.served_version(dynamodb, settings.table_name) == "v1"
    assert registry.registry_entry(dynamodb, settings.table_name, "v2").status == "writing"
    assert not task_runs(state.state_details.flow_run_id, "finish_publish", wait=1.0)


def test_the_runner_is_the_one_the_settings_name(run_settings, dask_address):
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    assert isinstance(fanout.task_runner(run_settings()), ThreadPoolTaskRunner)
    remote = fanout.task_runner(run_settings(task_runner="dask", dask_address=dask_address))
    assert isinstance(remote, DaskTaskRunner) and remote.address == dask_address
    local = fanout.task_runner(run_settings(task_runner="dask", dask_workers=3))
    assert local.address is None and local.cluster_kwargs["n_workers"] == 3
    assert local.cluster_kwargs["processes"] is True


def test_the_subflow_records_its_inputs_as_a_placeholder_not_their_contents(scored):
    """The API refuses flow-run parameters over 512 KB: 100k users' segments would be 1 MB."""
    model, data, seen, _ = scored
    segments = pd.Series(["FR"] * 200_000)
    encoded = fanout.score_and_publish.serialize_parameters(
        {"inputs": fanout.Inputs(model, data, seen, segments)}
    )
    assert encoded == {"inputs": "<Inputs>"}


def test_a_task_runner_the_settings_do_not_know_is_refused(run_settings):
    with pytest.raises(ValueError, match="task_runner"):
        run_settings(task_runner="ray")
