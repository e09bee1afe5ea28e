"""Operations of the nightly flow: safe re-runs, empty days, retries of network stages only, the failed
stage named, one run at a time, and the scheduled deployment."""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import datetime

import boto3
import duckdb
import pytest
from botocore.exceptions import ClientError

from pipeline import operations
from pipeline.errors import PipelineError
from pipeline.synthetic import SyntheticSpec, write_daily

TINY = SyntheticSpec(events=5_000, users=250, items=100, days=10, clusters=6, seed=11)


# --- plain rules, no Prefect -----------------------------------------------------------------------

SERVED = {"data_fingerprint": "fp1", "params": {"factors": 8}}
TUNED = {"data_fingerprint": "fp1", "params": {"factors": 32}, "configured_params": {"factors": 8}}


@pytest.mark.parametrize(
    ("new_files", "fingerprint", "params", "version", "served", "policy", "force", "expected"),
    [
        (3, "fp1", {"factors": 8}, None, None, "skip", False, (True, True, "no version is served")),
        (3, "fp2", {"factors": 8}, "v1", SERVED, "skip", False, (True, True, "data changed")),
        (0, "fp1", {"factors": 16}, "v1", SERVED, "skip", False, (True, True, "params changed")),
        (0, "fp2", {"factors": 8}, "v1", SERVED, "skip", False, (True, True, "data changed")),
        (0, "fp1", {"factors": 8}, "v1", SERVED, "skip", False, (False, False, "empty day")),
        (0, "fp1", {"factors": 8}, "v1", SERVED, "retrain", False, (True, False, "empty day")),
        (2, "fp1", {"factors": 8}, "v1", SERVED, "skip", False, (False, False, "changed no interaction")),
        (0, "fp1", {"factors": 8}, "v1", SERVED, "skip", True, (True, True, "forced")),
        (0, "fp1", {"factors": 8}, "v1", None, "skip", False, (True, True, "no artifact here")),
        (0, "fp1", {"factors": 8}, "v1", TUNED, "skip", False, (False, False, "empty day")),
        (0, "fp1", {"factors": 16}, "v1", TUNED, "skip", False, (True, True, "params changed")),
    ],
)
def test_plan_run(new_files, fingerprint, params, version, served, policy, force, expected):
    plan = operations.plan_run(new_files, fingerprint, params, version, served, policy, force)
    assert (plan.train, plan.publish) == expected[:2]
    assert expected[2] in plan.reason


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


def wrapped(err: Exception) -> PipelineError:
    try:
        raise PipelineError("publishing failed") from err
    except PipelineError as outer:
        return outer


@pytest.mark.parametrize(
    ("err", "transient"),
    [
        (ConnectionResetError("reset by peer"), True),
        (TimeoutError("read timed out"), True),
        (client_error("ThrottlingException", 400), True),
        (client_error("InternalServerError", 500), True),
        (wrapped(client_error("ProvisionedThroughputExceededException", 400)), True),
        (client_error("AccessDeniedException", 400), False),
        (wrapped(client_error("ValidationException", 400)), False),
        (FileNotFoundError("events/missing.parquet"), False),
        (PipelineError("table has key schema {'id': 'HASH'}"), False),
        (ValueError("bad"), False),
    ],
)
def test_only_network_and_throttling_errors_are_transient(err, transient):
    assert operations.is_transient(err) is transient


def test_run_date_fills_the_event_path():
    assert operations.resolve_events(["in/{run_date}/"], "2026-03-04") == ["in/2026-03-04/"]
    scheduled = datetime(2026, 3, 5, 2, 0)
    assert operations.resolve_events(["in/{run_date}"], None, scheduled) == ["in/2026-03-04"]
    assert operations.resolve_events(["in/all"], None, scheduled) == ["in/all"]
    with pytest.raises(PipelineError, match="run_date must be a date as YYYY-MM-DD, got '4 March'"):
        operations.resolve_events(["in/{run_date}"], "4 March")


# --- the flow against the local AWS -----------------------------------------------------------------


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
def settings(tmp_path, local_aws, table_name):
    from pipeline.settings import load_settings

    return load_settings(
        warehouse=tmp_path / "warehouse.duckdb",
        artifacts_dir=tmp_path / "artifacts",
        table_name=table_name,
        aws_endpoint_url=local_aws.endpoint_url,
        holdout_days=2,
        k=10,
        similar_k=5,
        min_lift_over_popular=-1.0,
        publish_workers=2,
    )


def raw_events(settings) -> int:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute("SELECT count(*) FROM raw_events").fetchone()[0]


def pointer(dynamodb, table: str) -> str:
    return operations.served_version(dynamodb, table)


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


def task_runs(flow_run_id, name: str, wait: float = 15.0) -> list:
    """The final task runs named ``name`` of a flow run, as the Prefect API recorded them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + wait
    with get_client(sync_client=True) as client:
        while True:  # task run states reach the API as events, a moment after the run
            of_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            runs = client.read_task_runs(flow_run_filter=of_run)
            runs = [r for r in runs if r.name.startswith(name) and r.state and r.state.is_final()]
            if runs or time.monotonic() > deadline:
                return runs
            time.sleep(0.5)


def failure_artifact(flow_run_id, wait: float = 15.0) -> str | None:
    """The ``nightly-failure`` artifact of one flow run (artifacts reach the API a moment after)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    of_run = ArtifactFilter(
        key=ArtifactFilterKey(any_=[operations.FAILURE_ARTIFACT]),
        flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
    )
    deadline = time.monotonic() + wait
    with get_client(sync_client=True) as client:
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

    operations.ensure_slot()
    holding, release = threading.Event(), threading.Event()

    def first_run():  # stands in for a long nightly run: holds the same slot
        with concurrency(operations.SLOT_NAME, occupy=1, strict=True):
            holding.set()
            release.wait(60)

    holder = threading.Thread(target=first_run)
    holder.start()
    try:
        assert holding.wait(30)
        started = time.monotonic()
        refused = "another nightly run holds the 'recs-nightly'"
        with pytest.raises(operations.RunInProgressError, match=refused):
            nightly(events=[str(days[0])], settings=settings)
        assert time.monotonic() - started >= operations.SLOT_WAIT_SECONDS
        assert not settings.warehouse.exists()  # the refused run did nothing
    finally:
        release.set()
        holder.join(30)
    with concurrency(operations.SLOT_NAME, occupy=1, timeout_seconds=10, strict=True):
        pass  # the slot is free again once the first run ends


def test_the_deployment_carries_the_schedule_and_parameters(tmp_path):
    from pipeline.schedule import nightly_deployment

    deployment = nightly_deployment(
        events=[str(tmp_path / "incoming" / "{run_date}")],
        config="sample_data/retail.toml",
        cron="30 1 * * *",
        timezone="Europe/Paris",
    )
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "30 1 * * *"
    assert schedule.schedule.timezone == "Europe/Paris"
    assert deployment.parameters["config"] == "sample_data/retail.toml"
    assert deployment.parameters["events"] == [str(tmp_path / "incoming" / "{run_date}")]
    assert deployment.parameters["force"] is False
    assert deployment.concurrency_limit == 1


def test_the_deployment_refuses_a_bad_cron():
    from pipeline.schedule import ScheduleError, nightly_deployment

    with pytest.raises(ScheduleError, match="cron '61 2 \\* \\* \\*' is not a valid cron expression"):
        nightly_deployment(events=["x"], cron="61 2 * * *")
    with pytest.raises(ScheduleError, match="timezone 'Mars/Olympus' is not an IANA timezone"):
        nightly_deployment(events=["x"], timezone="Mars/Olympus")


def test_prefect_yaml_deploys_the_flow_with_valid_schedules_and_known_parameters():
    import inspect

    import yaml

    from pipeline.flow import nightly
    from pipeline.schedule import cron_schedule
    from tests.conftest import ROOT

    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    flow_parameters = set(inspect.signature(nightly.fn).parameters)
    assert {d["work_pool"]["name"] for d in config["deployments"]} == {"recs-cpu", "recs-gpu"}
    for deployment in config["deployments"]:
        path, name = deployment["entrypoint"].split(":")
        assert (ROOT / path).exists() and name == nightly.fn.__name__
        assert set(deployment["parameters"]) <= flow_parameters
        assert deployment["concurrency_limit"]["limit"] == 1
        for schedule in deployment["schedules"]:
            cron_schedule(schedule["cron"], schedule["timezone"])


def test_every_stage_has_a_timeout_and_only_network_stages_retry():
    from prefect import Task

    from pipeline import flow

    tasks = {name: obj for name, obj in vars(flow).items() if isinstance(obj, Task)}
    assert {"ingest_events", "fit_model", "publish_version"} <= set(tasks)
    assert {name for name, t in tasks.items() if not t.timeout_seconds} == set()
    for name in ("ingest_events", "served_version", "publish_version"):
        assert tasks[name].retries == operations.RETRIES
        assert tasks[name].retry_delay_seconds == [2.0, 4.0, 8.0]  # exponential backoff
        assert tasks[name].retry_condition_fn is operations.retry_if_transient
    for name in ("load_holdout", "fit_model", "evaluate_model", "precompute", "save_artifact"):
        assert tasks[name].retries == 0, name  # computing again the same way fails the same way


@pytest.mark.slow  # a real Prefect server and a cron that fires each minute: about 2-4 minutes
def test_recs_schedule_fires_a_cron_run_and_ctrl_c_stops_everything(days, tmp_path, local_aws):
    import os
    import signal
    import subprocess
    import sys

    from infra.local_aws import free_port
    from tests.conftest import ROOT
    from tests.test_replay import processes_with

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
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
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
