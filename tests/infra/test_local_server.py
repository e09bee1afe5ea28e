"""`recs local-aws start | status | stop`: a moto server kept between commands, found through its
record by the commands given --local-aws, and gone after stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import boto3
import pytest

from infra.local import server
from pipeline.cli import main
from pipeline.publish import dynamo


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty working directory; whatever a test started is stopped after it."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    server.stop(tmp_path / server.RECORD)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_start_status_use_and_stop(workdir, capsys, monkeypatch):
    assert main(["local-aws", "status"]) == 3
    assert capsys.readouterr().out == "local AWS: stopped\n"

    assert main(["local-aws", "start"]) == 0
    record = server.read(workdir / "var" / "local-aws.json")
    assert record is not None and record.endpoint_url.startswith("http://127.0.0.1:")
    assert f"started at {record.endpoint_url} (pid {record.pid})" in capsys.readouterr().out
    assert main(["local-aws", "start"]) == 0  # a second start reuses it
    assert "already running" in capsys.readouterr().out
    assert server.read(workdir / "var" / "local-aws.json") == record

    # another command finds it through the record
    table = f"recs-local-{uuid.uuid4().hex[:6]}"
    client = boto3.client(
        "dynamodb",
        endpoint_url=record.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    dynamo.check_table(client, table, create=True)
    monkeypatch.setenv("RECS_TABLE_NAME", table)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # only the record says where it is
    monkeypatch.delenv("RECS_AWS_ENDPOINT_URL", raising=False)
    assert main(["versions", "--local-aws"]) == 0
    assert capsys.readouterr().out == f"no versions in table {table}\n"
    assert "RECS_AWS_ENDPOINT_URL" not in os.environ  # the command's environment is undone after it

    assert main(["local-aws", "stop"]) == 0
    assert f"(pid {record.pid}) stopped" in capsys.readouterr().out
    with pytest.raises(ProcessLookupError):
        os.kill(record.pid, 0)  # nothing left running
    assert not (workdir / "var" / "local-aws.json").exists()
    assert main(["local-aws", "status"]) == 3


def test_a_stale_record_of_a_dead_server_is_detected_and_replaced(workdir, capsys):
    stale = {
        "pid": dead_pid(),
        "endpoint_url": "http://127.0.0.1:9",
        "region": "us-east-1",
        "started_at": "2026-12-01T00:00:00+00:00",
        "log": "var/local-aws.log",
    }
    (workdir / "var").mkdir()
    (workdir / "var" / "local-aws.json").write_text(json.dumps(stale))

    assert main(["local-aws", "status"]) == 1
    assert capsys.readouterr().out.startswith(f"local AWS: stale, pid {stale['pid']} at http://127.0.0.1:9")
    assert main(["versions", "--local-aws"]) == 1
    assert capsys.readouterr().err == (
        f"recs versions: error: the local AWS recorded in var/local-aws.json (pid {stale['pid']}, "
        "http://127.0.0.1:9) is not running: `recs local-aws start` starts a new one\n"
    )
    assert main(["local-aws", "start"]) == 0
    fresh = server.read(workdir / "var" / "local-aws.json")
    assert fresh is not None and fresh.pid != stale["pid"]
    assert server.status(workdir / "var" / "local-aws.json")[0] == "running"


def test_stop_of_a_stale_record_removes_it_and_kills_nothing(workdir, capsys):
    (workdir / "var").mkdir()
    record = {
        "pid": os.getpid(),
        "endpoint_url": "http://127.0.0.1:9",
        "region": "us-east-1",
        "started_at": "2026-12-01T00:00:00+00:00",
        "log": "x",
    }  # a live pid that is not moto
    (workdir / "var" / "local-aws.json").write_text(json.dumps(record))
    assert main(["local-aws", "stop"]) == 0
    assert "removed a stale record" in capsys.readouterr().out
    assert not (workdir / "var" / "local-aws.json").exists()
