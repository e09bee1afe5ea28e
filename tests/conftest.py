"""Shared fixtures: one local AWS (moto's server) and one Prefect test harness per session."""

from __future__ import annotations

import uuid

import boto3
import pytest

from infra.local import synthetic
from infra.local.aws import LocalAWS, environment
from pipeline.data import warehouse
from pipeline.data.ingest import ingest
from tests.model_data import TINY


@pytest.fixture(scope="session", autouse=True)
def small_tuning_budget():
    """Flows under test still tune (on schedule, then reuse), but with 3 trials instead of the default."""
    with environment({"RECS_TUNING__MAX_TRIALS": "3"}):
        yield


@pytest.fixture(scope="session")
def local_aws():
    """moto's server on a free 127.0.0.1 port, with boto3's environment pointed at it."""
    with LocalAWS() as aws, environment(aws.environment()):
        yield aws


@pytest.fixture(scope="session")
def dynamodb(local_aws):
    return boto3.client("dynamodb", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)


@pytest.fixture
def bucket(local_aws) -> str:
    """A new, empty S3 bucket in the local AWS; its name."""
    name = f"recs-test-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region).create_bucket(
        Bucket=name
    )
    return name


@pytest.fixture
def table_name() -> str:
    return f"recs-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """A temporary Prefect API and database for the flows of this session (its variables are restored
    when the session ends)."""
    home = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.testing.utilities import prefect_test_harness

    with (
        environment({"PREFECT_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}),
        prefect_test_harness(server_startup_timeout=300),  # generous: a busy machine starts it slowly
    ):
        yield


@pytest.fixture(scope="session")
def warehouse_file(tmp_path_factory):
    """A real warehouse of the TINY synthetic log (read-only for tests), and its event folder."""
    root = tmp_path_factory.mktemp("tiny-warehouse")
    files = synthetic.write_daily(TINY, root / "events")
    path = root / "warehouse.duckdb"
    with warehouse.connect(path) as con:
        ingest(con, files, {}, ["view", "cart", "purchase"], 0.0)
    return path, root / "events"
