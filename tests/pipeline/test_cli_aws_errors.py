"""Every `recs` command turns an AWS failure into one line naming the resource and what to do."""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from infra.local.aws import free_port
from pipeline.cli import main
from pipeline.cli.aws_errors import Where, explain
from pipeline.errors import PipelineError
from tests.pipeline.test_aws import client_error

WHERE = Where("recs-prod", "eu-west-1", None)


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """An environment where boto3 finds no credentials anywhere."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    # a new process's boto3: the default session caches the credentials it found before
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("command", [["versions"], ["show-user", "u1"], ["rollback"]])
def test_no_credentials_is_one_line_saying_where_to_put_them(no_credentials, capsys, command):
    assert main(command) == 1
    line = one_error_line(capsys)
    assert line.startswith(f"recs {command[0]}: error: no AWS credentials found")
    assert "AWS_ACCESS_KEY_ID" in line and "--local-aws" in line


def test_recs_run_without_credentials_says_so_before_the_flow_starts(no_credentials, capsys, tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id,event_type,ts\nu1,i1,view,2026-01-01T00:00:00Z\n")
    assert main(["run", "--events", str(events)]) == 1
    assert one_error_line(capsys).startswith("recs run: error: no AWS credentials found")


def test_an_unreachable_endpoint_is_named(capsys, monkeypatch, local_aws):
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("RECS_AWS_ENDPOINT_URL", dead)
    monkeypatch.setenv("RECS_ARTIFACTS_DIR", "s3://recs-artifacts/artifacts")
    assert main(["recommend", "u1"]) == 1
    line = one_error_line(capsys)
    assert line.startswith(f"recs recommend: error: cannot reach {dead}/recs-artifacts")
    assert line.endswith(
        ": check the network and aws_endpoint_url (RECS_AWS_ENDPOINT_URL or AWS_ENDPOINT_URL); "
        "for the local AWS: `recs local-aws start`, or --local-aws"
    )


def test_a_missing_table_and_a_missing_bucket_are_named(capsys, monkeypatch, local_aws):
    table = f"recs-missing-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("RECS_TABLE_NAME", table)
    assert main(["versions"]) == 1
    assert one_error_line(capsys) == (
        f"recs versions: error: DynamoDB table {table} does not exist; create it from infra/ "
        "(or set create_table = true for a local run)"
    )
    monkeypatch.setenv("RECS_ARTIFACTS_DIR", "s3://recs-no-such-bucket/artifacts")
    assert main(["recommend", "u1"]) == 1
    line = one_error_line(capsys)
    assert line.startswith("recs recommend: error: cannot list s3://recs-no-such-bucket/artifacts")
    assert "bucket recs-no-such-bucket does not exist; create it" in line


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (
            client_error("AccessDeniedException", 400),
            "access denied to DynamoDB table recs-prod (AccessDeniedException on Op)",
        ),
        (
            ClientError({"Error": {"Code": "AccessDenied", "BucketName": "b1"}}, "GetObject"),
            "access denied to S3 bucket b1 (AccessDenied on GetObject)",
        ),
        (
            PipelineError("stage publish_version failed"),
            None,  # not AWS's: the command's own message stands
        ),
        (
            ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "GetItem"),
            "DynamoDB table recs-prod does not exist in eu-west-1: deploy the stack",
        ),
        (
            EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com/"),
            "cannot reach https://",
        ),
    ],
)
def test_explain_names_the_resource(err, expected):
    try:
        raise RuntimeError("a stage failed") from err  # found anywhere in the chain
    except RuntimeError as outer:
        line = explain(outer, WHERE)
    if expected is None:
        assert line is None
    else:
        assert line is not None and line.startswith(expected)
