"""recs replay: the stack from the template in a local AWS, nightly runs day by day, the API until Ctrl-C,
and nothing left running afterwards."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infra.local.aws import free_port
from infra.local.replay import HEADER, ReplayError, day_files, run_replay
from infra.local.synthetic import SyntheticSpec, write_daily
from tests.paths import ROOT

TINY = SyntheticSpec(events=5_000, users=250, items=100, days=10, clusters=6, seed=5)
CONFIG = """
holdout_days = 2
k = 10
similar_k = 5
min_lift_over_popular = -1.0
max_drop_vs_published = 1.0
table_name = "recs-replay"
"""


@pytest.fixture
def days(tmp_path) -> Path:
    """Four 'nights': the first day of the tiny log (too little history for a 2-day holdout), days 2-8 in
    one file, then day 9, then day 10."""
    files = write_daily(TINY, tmp_path / "all")
    out = tmp_path / "days"
    out.mkdir()
    files[0].rename(out / "day-0.parquet")
    pq.write_table(pa.concat_tables([pq.read_table(f) for f in files[1:8]]), out / "day-1.parquet")
    files[8].rename(out / "day-2.parquet")
    files[9].rename(out / "day-3.parquet")
    (out / "notes.txt").write_text("not an event file")
    return out


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "replay.toml"
    path.write_text(CONFIG)
    return path


def test_day_files_are_the_event_files_in_name_order(days, tmp_path):
    assert [p.name for p in day_files(days)] == [f"day-{n}.parquet" for n in range(4)]
    with pytest.raises(ReplayError, match="--days .*: not a directory"):
        day_files(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReplayError, match="--days .*empty: holds no"):
        day_files(tmp_path / "empty")


def test_replay_of_several_days_shows_the_served_version_day_by_day(days, config, tmp_path, prefect_harness):
    lines: list[str] = []
    endpoint_before = os.environ.get("AWS_ENDPOINT_URL")
    results = run_replay(
        days=str(days), config=str(config), workdir=tmp_path / "work", serve=False, echo=lines.append
    )
    first, results = results[0], results[1:]
    assert [r.day for r in results] == ["day-1", "day-2", "day-3"]
    # the first night fails on too little history, is shown as such, and the next nights go on
    assert (first.day, first.published, first.served_version, first.rows_loaded) == (
        "day-0",
        False,
        None,
        None,
    )
    assert "EmptyInteractionsError" in first.reason
    assert [r.rows_loaded for r in results] == [
        pq.read_metadata(days / f"{r.day}.parquet").num_rows for r in results
    ]  # each night read exactly the day that landed in the bucket, nothing twice
    assert all(r.published for r in results)  # each day brings new data, and the gate is open
    assert len({r.served_version for r in results}) == 3  # a new version served after every day
    assert all(r.model_ndcg is not None and r.popular_ndcg is not None for r in results)
    assert any(line.startswith("day-0 ") and " failed " in line for line in lines)
    assert HEADER in lines
    assert any(line.startswith("day-2 ") for line in lines)
    assert any("stack recs-replay-" in line for line in lines)  # the stack made the table the runs used
    assert os.environ.get("AWS_ENDPOINT_URL") == endpoint_before  # the replay's environment is undone
    replay_endpoint = re.search(r"local AWS at (http://[\d.:]+\d)", lines[0]).group(1)
    assert replay_endpoint != endpoint_before


def processes_with(marker: str) -> list[int]:
    """Processes whose environment holds ``marker`` (every child of the replay inherits it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def ctrl_c_as_at_a_terminal() -> None:
    """``preexec_fn`` of a process a test stops with SIGINT: SIGINT handled as at a terminal.

    A shell starts a background job with SIGINT ignored, and Python then installs no handler for
    it, so a test suite run in the background (CI in a detached session) would wait forever."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def assert_all_stopped(urls: list[str], marker: str, ceiling: float = 15.0) -> None:
    """No ``url`` answers, and no process whose environment holds ``marker`` is left (within ``ceiling``)."""
    for url in urls:
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=2)
    deadline = time.monotonic() + ceiling
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_with(marker) == []


@pytest.mark.slow  # a whole `recs replay` process: its own Prefect server, moto, the flow, uvicorn
def test_replay_serves_until_ctrl_c_and_leaves_nothing_running(days, config, tmp_path):
    marker = f"RECS_REPLAY_TEST={uuid.uuid4().hex}"
    port = free_port()
    env = {
        **os.environ,
        marker.split("=")[0]: marker.split("=")[1],
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "pipeline.cli", "replay", "--events", str(days / "day-1.parquet")]
    command += ["--config", str(config), "--workdir", str(tmp_path / "work"), "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=ctrl_c_as_at_a_terminal,
    )  # fmt: skip
    output = []
    try:
        deadline = time.monotonic() + 900  # a generous ceiling: a loaded machine tunes slowly
        while not any("Ctrl-C stops the API" in line for line in output):
            line = process.stdout.readline()
            assert line or process.poll() is None, "".join(output[-40:])
            output.append(line)
            assert time.monotonic() < deadline, "".join(output[-40:])
        base = f"http://127.0.0.1:{port}"
        assert f"(OpenAPI docs: {base}/docs)" in "".join(output)
        curl = next(line for line in output if "curl -s '" in line and "new-visitor" not in line)
        url = re.search(r"'(http[^']+)'", curl).group(1)
        answer = httpx.get(url, timeout=10)
        assert answer.status_code == 200 and answer.json()["items"]
        assert httpx.get(f"{base}/docs", timeout=10).status_code == 200
        moto = re.search(r"local AWS at (http://127\.0\.0\.1:\d+)", "".join(output)).group(1)
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, rest[-3000:]
    assert "stopping the API and the local AWS" in rest
    assert_all_stopped([f"{base}/health", f"{moto}/moto-api/"], marker)
