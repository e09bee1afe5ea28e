"""A local AWS that outlives one command: ``recs local-aws start | status | stop``.

``start`` runs moto's server (the same ``python -m moto.server`` as ``LocalAWS``) in its own
session, so it keeps running after the command ends, and records where it is in
``var/local-aws.json``:

    {"pid": 4242, "endpoint_url": "http://127.0.0.1:45123", "region": "us-east-1",
     "started_at": "2026-12-07T18:00:00+00:00", "log": "var/local-aws.log"}

Commands given ``--local-aws`` (run, versions, show-user, rollback, api) read the record and
point boto3 at that endpoint. A record whose process is gone, or is no longer moto's server,
or does not answer, is stale: ``status`` says so and ``start`` replaces it. ``stop`` ends the
process (and waits until it is gone) and removes the record.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from infra.local.aws import FAKE_CREDENTIALS, free_port
from pipeline.errors import PipelineError
from pipeline.ops.children import answers

RECORD = Path("var/local-aws.json")
STARTUP_TIMEOUT = 60.0


class LocalAWSError(PipelineError):
    """No local AWS is running where a command was told to use one, or it would not start."""


@dataclass(frozen=True)
class Record:
    pid: int
    endpoint_url: str
    region: str
    started_at: str
    log: str

    def environment(self) -> dict[str, str]:
        """Variables that point boto3 (and the API's settings) at this server."""
        return {**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": self.region, "AWS_ENDPOINT_URL": self.endpoint_url}


State = Literal["running", "stale", "stopped"]


def read(path: Path = RECORD) -> Record | None:
    if not path.exists():
        return None
    try:
        return Record(**json.loads(path.read_text()))
    except (ValueError, TypeError) as err:
        raise LocalAWSError(
            f"{path} is not a local AWS record ({err}): remove it, then `recs local-aws start`"
        ) from None


def status(path: Path = RECORD) -> tuple[State, Record | None]:
    """Whether the recorded server runs: ``stale`` when the record names a dead or foreign process."""
    record = read(path)
    if record is None:
        return "stopped", None
    return ("running" if _alive(record) else "stale"), record


def start(path: Path = RECORD, region: str = "us-east-1") -> tuple[Record, bool]:
    """The running server, started (True) unless one already runs (False); a stale record is replaced."""
    state, record = status(path)
    if state == "running" and record is not None:
        return record, False
    port = free_port()
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.with_suffix(".log")
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=out,  # a file: moto logs every request, and nobody drains a pipe once we exit
            env={**os.environ, **FAKE_CREDENTIALS},
            start_new_session=True,  # not in this terminal's process group: Ctrl-C here leaves it alone
        )
    endpoint = f"http://127.0.0.1:{port}"
    if not answers(f"{endpoint}/moto-api/", process, STARTUP_TIMEOUT):
        _end(process.pid)
        raise LocalAWSError(f"moto did not answer on {endpoint} in {STARTUP_TIMEOUT:.0f}s: see {log}")
    record = Record(process.pid, endpoint, region, datetime.now(UTC).isoformat(timespec="seconds"), str(log))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record)))
    tmp.replace(path)  # whole or absent: another command never reads half a record
    return record, True


def stop(path: Path = RECORD) -> tuple[State, Record | None]:
    """End the recorded server and remove the record; the state it was in before."""
    state, record = status(path)
    if record is not None:
        if state == "running":
            _end(record.pid)
        path.unlink(missing_ok=True)
    return state, record


def running(path: Path = RECORD) -> Record:
    """The running server, for a command given ``--local-aws``; ``LocalAWSError`` saying how to start one."""
    state, record = status(path)
    if state == "running" and record is not None:
        return record
    if state == "stale" and record is not None:
        raise LocalAWSError(
            f"the local AWS recorded in {path} (pid {record.pid}, {record.endpoint_url}) is not running: "
            "`recs local-aws start` starts a new one"
        )
    raise LocalAWSError(f"no local AWS is running (no {path}): `recs local-aws start` first")


def _alive(record: Record) -> bool:
    """The recorded process exists, is moto's server, and answers on the recorded endpoint."""
    if _gone(record.pid) or not _is_moto(record.pid):
        return False
    try:
        urllib.request.urlopen(f"{record.endpoint_url}/moto-api/", timeout=2).close()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
    return True


def _is_moto(pid: int) -> bool:
    """Whether ``pid`` runs moto's server (a recycled pid may be anything else); where /proc is
    missing, the endpoint's answer decides."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():
        return True
    try:
        return b"moto.server" in cmdline.read_bytes()
    except OSError:
        return False


def _gone(pid: int) -> bool:
    """Whether ``pid`` has ended (a child of ours is reaped on the way)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:  # not our child: started by another command
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's process: alive, and not ours to judge
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1].startswith("Z")  # a zombie has ended


def _end(pid: int, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; returns once the process is gone."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _gone(pid):
                return
            time.sleep(0.05)
    raise LocalAWSError(f"the local AWS (pid {pid}) did not end after SIGKILL")
