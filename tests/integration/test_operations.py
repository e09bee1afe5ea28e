"""Operations of the nightly flow against the local AWS and Prefect: safe re-runs, retries of network
stages only, the failed stage named, one run at a time, and a real cron run."""

from __future__ import annotations

import re
import threading
import time
import uuid

import boto3
import duckdb
import pytest

from infra.local.synthetic import SyntheticSpec, write_daily
from pipeline.errors import PipelineError
from pipeline.ops import plan, retries
from pipeline.ops.concurrency import SLOT_NAME, SLOT_WAIT_SECONDS, RunInProgressError, ensure_slot
from tests.integration.test_replay import ctrl_c_as_at_a_terminal
from tests.pipeline.test_aws import client_error

TINY = SyntheticSpec(events=5_000, users=250, items=100, days=10, clusters=6, seed=11)


@pytest.fixture
def days(tmp_path):
    """The tiny log as one file per day, the last day held back for a later run."""
    files = write_daily(TINY, tmp_path / "all")
    first, last = tmp_path / "first", tmp_path / "last"
    first.mkdir()
    last.mkdir()
    for path in files[:-1]:
        path.rename(first / path.name)
    files[-1].rename(last / files[-1].name)
    return first, last


@pytest.fixture
def settings(run_settings):
    return run_settings(k=10, similar_k=5)


def raw_events(settings) -> int:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute("SELECT count(*) FROM raw_events").fetchone()[0]


def pointer(dynamodb, table: str) -> str:
    return plan.served_version(dynamodb, table)


def test_rerun_for_the_same_day_changes_nothing(days, settings, dynamodb, prefect_harness):
    from pipeline.flow import nightly

    first, last = days
    one = nightly(events=[str(first)], settings=settings)
    assert one.published
    rows = raw_events(settings)

    again = nightly(events=[str(first)], settings=settings)
    assert not again.published
    assert again.model_version == one.model_version
    assert "empty day" in again.reason and "keep serving it" in again.reason
    assert raw_events(settings) == rows  # no duplicated events
    assert pointer(dynamodb, settings.table_name) == one.model_version
    assert again.metrics == {}  # nothing was trained

    retrained = nightly(events=[str(first)], settings=settings.model_copy(update={"on_empty_day": "retrain"}))
    assert not retrained.published and retrained.metrics  # trained and measured, not published twice
    assert pointer(dynamodb, settings.table_name) == one.model_version

    forced = nightly(events=[str(first)], settings=settings, force=True)
    assert forced.published and forced.model_version != one.model_version

    new_day = nightly(events=[str(first), str(last)], settings=settings)
    assert new_day.published and new_day.ingest["files_loaded"] == 1
    assert raw_events(settings) > rows
    assert pointer(dynamodb, settings.table_name) == new_day.model_version


@pytest.fixture
def inject():
    """Make a DynamoDB operation fail through a botocore event hook on boto3's default session (the one
    the pipeline's clients are made from); yields a function to arm it and the list of injected calls."""
    session = boto3._get_default_session()
    hooks = []
    injected: list[str] = []

    def arm(operation: str, error, times: int):
        def hook(**kwargs):
            if len(injected) < times:
                injected.append(operation)
                raise error

        session.events.register(f"before-send.dynamodb.{operation}", hook)
        hooks.append((f"before-send.dynamodb.{operation}", hook))

    yield arm, injected
    for event, hook in hooks:
        session.events.unregister(event, hook)


def with_subflows(client, flow_run_id) -> list:
    """A flow run's id and those of its subflow runs (the scoring and publishing run in one)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    children = FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id]))
    return [flow_run_id, *(run.id for run in client.read_flow_runs(flow_run_filter=children))]


def task_runs(flow_run_id, name: str, wait: float = 60.0) -> list:
    """The final task runs named ``name`` of a flow run and its subflows, as the Prefect API recorded them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + wait
    with get_client(sync_client=True) as client:
        while True:  # task run states reach the API as events, a moment after the run
            of_run = FlowRunFilter(id=FlowRunFilterId(any_=with_subflows(client, flow_run_id)))
            runs = client.read_task_runs(flow_run_filter=of_run)
            runs = [r for r in runs if r.name.startswith(name) and r.state and r.state.is_final()]
            if runs or time.monotonic() > deadline:
                return runs
            time.sleep(0.5)


def failure_artifact(flow_run_id, wait: float = 60.0) -> str | None:
    """The ``nightly-failure`` artifact of one flow run (artifacts reach the API a moment after)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    deadline = time.monotonic() + wait
    with get_client(sync_client=True) as client:
        of_run = ArtifactFilter(
            key=ArtifactFilterKey(any_=[retries.FAILURE_ARTIFACT]),
            flow_run_id=ArtifactFilterFlowRunId(any_=with_subflows(client, flow_run_id)),
        )
        while not (found := client.read_artifacts(artifact_filter=of_run)) and time.monotonic() < deadline:
            time.sleep(0.5)
    return found[0].data if found else None


def test_a_dropped_dynamodb_connection_is_retried_with_backoff(
    days, settings, dynamodb, inject, prefect_harness
):
    from pipeline.flow import nightly

    arm, injected = inject
    arm("BatchWriteItem", ConnectionResetError("connection reset by peer (injected)"), times=1)
    state = nightly(events=[str(days[0])], settings=settings, return_state=True)
    summary = state.result()
    assert injected == ["BatchWriteItem"]
    assert summary.published  # the publish stage's second attempt wrote every row
    assert pointer(dynamodb, settings.table_name) == summary.model_version
    runs = task_runs(state.state_details.flow_run_id, "publish_version")
    assert [run.run_count for run in runs] == [2]  # Prefect retried the stage once, after its backoff


def test_a_refused_write_is_not_retried_and_the_run_names_the_stage(
    days, settings, dynamodb, inject, prefect_harness
):
    from pipeline.flow import nightly

    arm, injected = inject
    denied = client_error("AccessDeniedException", 400)
    arm("BatchWriteItem", denied, times=1000)
    state = nightly(events=[str(days[0])], settings=settings, return_state=True)
    assert state.is_failed()
    with pytest.raises(PipelineError, match="AccessDeniedException"):
        state.result()
    report = failure_artifact(state.state_details.flow_run_id)
    assert report is not None
    assert "stage: `publish_version`" in report
    assert "attempts: 1" in report and "AccessDeniedException" in report
    assert pointer(dynamodb, settings.table_name) is None  # nothing was served


def test_a_second_run_waits_then_refuses_while_one_holds_the_slot(days, settings, prefect_harness):
    from prefect.concurrency.sync import concurrency

    from pipeline.flow import nightly

    ensure_slot()
    holding, release = threading.Event(), threading.Event()

    def first_run():  # stands in for a long nightly run: holds the same slot
        with concurrency(SLOT_NAME, occupy=1, strict=True):
            holding.set()
            release.wait(60)

    holder = threading.Thread(target=first_run)
    holder.start()
    try:
        assert holding.wait(30)
        started = time.monotonic()
        refused = "another nightly run holds the 'recs-nightly'"
        with pytest.raises(RunInProgressError, match=refused):
            nightly(events=[str(days[0])], settings=settings)
        assert time.monotonic() - started >= SLOT_WAIT_SECONDS
        assert not settings.warehouse.exists()  # the refused run did nothing
    finally:
        release.set()
        holder.join(30)
    with concurrency(SLOT_NAME, occupy=1, timeout_seconds=10, strict=True):
        pass  # the slot is free again once the first run ends


@pytest.mark.slow  # a real Prefect server and a cron that fires each minute: about 2-4 minutes
def test_recs_schedule_fires_a_cron_run_and_ctrl_c_stops_everything(days, tmp_path, local_aws):
    import os
    import signal
    import subprocess
    import sys

    from infra.local.aws import free_port
    from tests.integration.test_replay import processes_with
    from tests.paths import ROOT

    config = tmp_path / "nightly.toml"
    config.write_text(
        f'warehouse = "{tmp_path / "wh.duckdb"}"\nartifacts_dir = "{tmp_path / "artifacts"}"\n'
        f'table_name = "recs-sched-{uuid.uuid4().hex[:6]}"\nholdout_days = 2\nk = 10\nsimilar_k = 5\n'
        "min_lift_over_popular = -1.0\n"
    )
    marker = uuid.uuid4().hex
    env = {**os.environ, "RECS_SCHEDULE_TEST": marker, "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("PREFECT_API_URL", None)
    command = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "schedule",
        "--events",
        str(days[0]),
        "--config",
        str(config),
    ]
    command += ["--cron", "* * * * *", "--start-server", "--port", str(free_port())]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=ctrl_c_as_at_a_terminal,
    )  # fmt: skip
    output: list[str] = []
    try:
        deadline = time.monotonic() + 420
        while not any("Flow run" in line and "Finished in state Completed()" in line for line in output):
            line = process.stdout.readline()
            assert line and time.monotonic() < deadline, "".join(output[-40:])
            output.append(line)
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=90)
    text = "".join(output)
    server = re.search(r"Prefect server on (http://127\.0\.0\.1:\d+)", text).group(1)
    assert f"View at {server}/runs/flow-run/" in text  # the run was made by the server's scheduler
    assert process.returncode in (0, 130), rest[-3000:]
    deadline = time.monotonic() + 30
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_with(marker) == []
