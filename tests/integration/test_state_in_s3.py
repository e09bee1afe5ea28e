"""A nightly job whose state lives in S3: runs in empty working directories share one local S3 and
DynamoDB (moto's server), survive a run that dies half-way, and fail cleanly when S3 goes away."""

from __future__ import annotations

import json

import boto3
import duckdb
import pytest
from botocore.exceptions import EndpointConnectionError

from pipeline import storage
from pipeline.model import artifact
from pipeline.ops import plan, state
from pipeline.ops.concurrency import RunInProgressError
from pipeline.ops.lock import acquire, current, release
from pipeline.publish import dynamo, registry
from tests.integration import test_operations
from tests.integration.test_operations import failure_artifact
from tests.pipeline.test_aws import client_error


@pytest.fixture
def days(tmp_path):
    """test_operations' tiny log: the first nine days, and the last day held back for a later run."""
    files = test_operations.write_daily(test_operations.TINY, tmp_path / "all")
    return [str(path) for path in files[:-1]], str(files[-1])


@pytest.fixture
def in_s3(run_settings, bucket, tmp_path, monkeypatch):
    """Settings with the warehouse and the artifacts in the bucket; each call works in a new, empty
    directory, as a fresh container would."""
    made = iter(range(100))

    def make(**overrides):
        workdir = tmp_path / f"container-{next(made)}"
        workdir.mkdir()
        monkeypatch.chdir(workdir)
        return run_settings(
            warehouse=f"s3://{bucket}/state/warehouse.duckdb",
            artifacts_dir=f"s3://{bucket}/artifacts",
            k=10,
            similar_k=5,
            **overrides,
        )

    return make


def stored_events(settings) -> tuple[int, int]:
    """(all rows, distinct (file, row) pairs) of the warehouse state in S3."""
    with state.restored(settings) as copy, duckdb.connect(str(copy.path), read_only=True) as con:
        return con.execute(
            "SELECT count(*), count(DISTINCT (file_id, source_row)) FROM raw_events"
        ).fetchone()  # type: ignore[return-value]


def served(dynamodb, settings) -> str | None:
    return plan.served_version(dynamodb, settings.table_name)


@pytest.fixture
def s3_hook():
    """Make S3 requests fail through a botocore hook on boto3's default session (the one the storage
    layer's clients come from); ``arm(operation, error, when)`` fails the calls whose URL ``when`` accepts."""
    session = boto3._get_default_session()
    hooks = []

    def arm(operation: str, error, when=lambda url: True):
        def hook(request, **kwargs):
            if when(request.url):
                raise error

        session.events.register(f"before-send.s3.{operation}", hook)
        hooks.append((f"before-send.s3.{operation}", hook))

    yield arm
    for event, hook in hooks:
        session.events.unregister(event, hook)


def test_a_second_run_in_an_empty_directory_finds_everything_the_first_left_in_s3(
    days, in_s3, dynamodb, prefect_harness
):
    from pipeline.flow import nightly

    first, last = days
    one = nightly(events=first, settings=in_s3())
    assert one.published and one.ingest["files_loaded"] == 9
    rows_after_one = stored_events(in_s3())

    settings = in_s3()
    two = nightly(events=[*first, last], settings=settings)
    # its manifest was found: the first run's 9 files are skipped, only the new day is read
    assert two.ingest["files_loaded"] == 1 and two.ingest["files_skipped"] == 9
    total, distinct = stored_events(settings)
    assert total == distinct == rows_after_one[0] + two.ingest["rows_loaded"]

    meta = artifact.load_meta(settings.artifacts_dir, two.model_version)
    # compared with the served version, whose meta (and parameters) came from S3
    assert "published" in meta.evaluation.overall
    assert any(check.name.endswith(one.model_version) for check in meta.gate.checks)
    # the first run's tuning winner is reused, not searched again
    assert meta.tuning.source == "reused" and meta.tuning.from_version == one.model_version
    assert [m.version for m in artifact.history(settings.artifacts_dir)] == [
        one.model_version,
        two.model_version,
    ]
    report = storage.read_bytes(settings.artifacts_dir / two.model_version / "report.md").decode()
    assert one.model_version in report and two.model_version in report
    assert served(dynamodb, settings) == two.model_version
    assert current(dynamodb, settings.table_name) is None  # the lock was released


def test_recs_recommend_reads_the_model_and_the_history_from_s3(
    days, in_s3, monkeypatch, capsys, prefect_harness
):
    from pipeline.cli import main
    from pipeline.flow import nightly

    settings = in_s3()
    one = nightly(events=days[0], settings=settings)
    user = str(artifact.load(settings.artifacts_dir, one.model_version).user_ids[0])
    in_s3()  # another empty directory: nothing local to read
    monkeypatch.setenv("RECS_WAREHOUSE", str(settings.warehouse))
    monkeypatch.setenv("RECS_ARTIFACTS_DIR", str(settings.artifacts_dir))
    monkeypatch.setenv("RECS_AWS_ENDPOINT_URL", settings.aws_endpoint_url)
    assert main(["recommend", user, "--k", "3", "--json"]) == 0
    lists = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert lists["model_version"] == one.model_version and lists["known"] is True
    assert len(lists["items"]) == 3
    assert lists["history"]  # what the user touched, read from the warehouse restored from S3
    assert not set(lists["history"]) & {item["item_id"] for item in lists["items"]}


def fail_publish_after(batches: int):
    """A hook that lets ``batches`` BatchWriteItem calls through, then refuses every one (a run that
    dies during publish: some rows of its version written, the pointer not flipped)."""
    calls = []

    def hook(**kwargs):
        calls.append(1)
        if len(calls) > batches:
            raise client_error("AccessDeniedException", 400)

    return hook


@pytest.mark.parametrize("dies", ["after ingest", "during publish"])
def test_a_run_that_dies_half_way_leaves_the_next_run_whole(days, in_s3, dynamodb, prefect_harness, dies):
    from pipeline.flow import nightly

    first, last = days
    one = nightly(events=first, settings=in_s3())
    before = stored_events(in_s3())
    snapshot = state.current(in_s3().warehouse)

    session = boto3._get_default_session()
    event, hook = (
        ("before-send.dynamodb.GetItem", fail_publish_after(0))  # the served pointer, read after ingest
        if dies == "after ingest"
        else ("before-send.dynamodb.BatchWriteItem", fail_publish_after(3))
    )
    session.events.register(event, hook)
    try:
        broken = nightly(events=[*first, last], settings=in_s3(), return_state=True)
    finally:
        session.events.unregister(event, hook)
    assert broken.is_failed()
    settings = in_s3()
    assert state.current(settings.warehouse) == snapshot  # the stored state is the first run's
    assert stored_events(settings) == before
    assert served(dynamodb, settings) == one.model_version  # still served, whole
    assert registry.registry_entry(dynamodb, settings.table_name, one.model_version).status == "published"

    again = nightly(events=[*first, last], settings=settings)
    assert again.published and again.ingest["files_loaded"] == 1  # the new day, loaded exactly once
    total, distinct = stored_events(settings)
    assert total == distinct == before[0] + again.ingest["rows_loaded"]
    assert served(dynamodb, settings) == again.model_version


def test_s3_unreachable_mid_run_fails_naming_the_stage_and_keeps_the_state(
    days, in_s3, dynamodb, s3_hook, prefect_harness
):
    from pipeline.flow import nightly

    first, last = days
    one = nightly(events=first, settings=in_s3())
    settings = in_s3()
    snapshot = state.current(settings.warehouse)

    s3_hook("PutObject", EndpointConnectionError(endpoint_url="http://s3.unreachable"))
    run = nightly(events=[*first, last], settings=settings, return_state=True)
    assert run.is_failed()
    with pytest.raises(EndpointConnectionError):
        run.result()
    report = failure_artifact(run.state_details.flow_run_id)
    assert report is not None and "stage: `save_artifact`" in report
    assert state.current(settings.warehouse) == snapshot
    assert served(dynamodb, settings) == one.model_version
    assert artifact.saved_versions(settings.artifacts_dir) == [one.model_version]


def test_s3_unreachable_while_saving_the_warehouse_names_that_stage(
    days, in_s3, dynamodb, s3_hook, prefect_harness
):
    from pipeline.flow import nightly

    settings = in_s3()
    s3_hook(
        "PutObject",
        EndpointConnectionError(endpoint_url="http://s3.unreachable"),
        lambda url: ".snapshots/" in url,
    )
    with pytest.raises(state.StateError, match="stage save-state: cannot save the warehouse to s3://"):
        nightly(events=days[0], settings=settings)
    assert state.current(settings.warehouse) is None  # no pointer names a half-saved state
    assert served(dynamodb, settings) is not None  # the run itself was published before the save


def test_a_run_while_another_holds_the_lease_names_the_holder_and_does_nothing(
    days, in_s3, dynamodb, prefect_harness
):
    from pipeline.flow import nightly

    settings = in_s3()
    dynamo.check_table(dynamodb, settings.table_name, create=True)
    lease = acquire(dynamodb, settings.table_name, "container-7:pid1:abc", lease_seconds=300)
    try:
        with pytest.raises(
            RunInProgressError, match=r"holds the lock .* container-7:pid1:abc, whose lease ends 20"
        ):
            nightly(events=days[0], settings=in_s3())
    finally:
        release(dynamodb, settings.table_name, lease)
    assert state.current(settings.warehouse) is None  # nothing was saved
