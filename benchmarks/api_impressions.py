"""The impression record's cost on the hit path (issue 14): warm hits through the Mangum handler
with each sink on, next to the same hits with it off, interleaved. Run inside ``python -m
benchmarks.api``; the API benchmark's helpers come from there."""

from __future__ import annotations

import subprocess
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from infra.local.aws import LocalAWS
from lambda_api.impressions import NoSink


@contextmanager
def _stdout_to_a_drained_pipe():
    """stdout as Lambda's runtime gives it: a pipe that another process drains (here ``cat``).

    Not a thread of this process: its reads would compete for the GIL with the handler it measures.
    """
    import contextlib

    drain = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert drain.stdin is not None
    with contextlib.redirect_stdout(drain.stdin):
        yield
    drain.stdin.close()
    drain.wait(timeout=10)


class _BuiltNotWritten(NoSink):
    """A sink that builds every line and writes none: the record's cost without its write."""

    records = True


def impression_stages(aws: LocalAWS, table: str, invocations: int) -> list[dict]:
    """Warm hits with the impression record on, next to the same hits with it off, interleaved.

    ``stdout`` (Lambda: one flushed line on a pipe another process drains) is timed beside ``off``
    and beside a sink that builds the line and writes nothing, so the record's cost splits into
    building the line and the write; ``log_group`` (local: a queue that a thread sends to moto's
    log group, whose subscription carries it through Firehose to S3) runs in a pair of its own."""
    import boto3

    from benchmarks import api
    from infra.local.impressions import wire_impressions

    session = boto3.session.Session(region_name=aws.region)
    bucket = f"recs-bench-imp-{uuid.uuid4().hex[:8]}"
    session.client("s3").create_bucket(Bucket=bucket)
    group = wire_impressions(session, f"/aws/lambda/{table}", bucket).log_group
    with _stdout_to_a_drained_pipe():
        hits = _interleaved_hits(aws, table, invocations, group, ("stdout", "off", "built"))
    records = [
        api._record("api hit, impressions on stdout vs off", hits["stdout"].samples, hits["off"].samples,
                    target_ratio=1.05),
        api._record("api hit, impression line built, not written, vs off", hits["built"].samples,
                    hits["off"].samples),
        api._record("api hit, impressions on stdout vs line built, not written", hits["stdout"].samples,
                    hits["built"].samples),
    ]  # fmt: skip
    with _stdout_to_a_drained_pipe():
        writes, awake = _pipe_writes(invocations)
    records.append(
        api._record("one flushed line on a pipe whose reader sleeps (writes 0.38 ms apart) vs reader awake",
                    writes, awake)
    )  # fmt: skip
    hits = _interleaved_hits(aws, table, invocations, group, ("log_group", "off"))
    shipped = hits["log_group"].shipped
    records.append(
        api._record("api hit, impressions to a log group vs off", hits["log_group"].samples,
                    hits["off"].samples, target_ratio=1.05, records_sent=shipped.get("sent"),
                    records_dropped=shipped.get("dropped"))
    )  # fmt: skip
    return records


def _pipe_writes(count: int, apart: float = 0.00038) -> tuple[list[float], list[float]]:
    """Seconds of the stdout sink's write of one impression-sized line: ``apart`` seconds after the
    last (as between hits: the reader has read it and sleeps), and back to back (the reader is
    still awake). The difference is the kernel waking the reader inside the writer's call."""
    import sys

    from benchmarks import api
    from lambda_api.impressions import StdoutSink

    sink = StdoutSink()
    line = "x" * 400  # an impression line of ten items is about this long
    spaced, back_to_back = [], []
    for _ in range(count):
        until = time.perf_counter() + apart
        while time.perf_counter() < until:  # spin, not sleep: the writer stays on its core
            pass
        spaced.append(api._timed(partial(sink.write, line)))
        back_to_back.append(api._timed(partial(sink.write, line)))
    sys.stdout.flush()
    return spaced, back_to_back


@dataclass
class _Hits:
    samples: list[float]
    shipped: dict  # the sink's counters after a flush (log_group: sent, dropped), else empty


def _interleaved_hits(
    aws: LocalAWS, table: str, invocations: int, group: str, sinks: tuple[str, ...]
) -> dict[str, _Hits]:
    """Per-call seconds of the same warm hits through one app per sink, interleaved so that all
    see the same load. A sink is an ``impressions`` setting, or ``built`` (``_BuiltNotWritten``)."""
    from mangum import Mangum

    from benchmarks import api
    from lambda_api.app import create_app
    from lambda_api.settings import ApiSettings

    base: dict[str, Any] = {
        "table_name": table,
        "aws_endpoint_url": aws.endpoint_url,
        "aws_region": aws.region,
        "impressions_log_group": group,
    }
    apps = {
        name: create_app(
            ApiSettings(**base, **api.PATIENT_DYNAMODB, impressions="off" if name == "built" else name)
        )
        for name in sinks
    }
    if "built" in apps:
        apps["built"].state.runtime._impressions = _BuiltNotWritten()
    handlers = {name: Mangum(app, lifespan="off") for name, app in apps.items()}
    hot = [api._user_event(n) for n in range(50)]
    for handler in handlers.values():
        for event in hot:
            assert handler(event, api.NO_CONTEXT)["statusCode"] == 200
    samples: dict[str, list[float]] = {name: [] for name in handlers}
    for i in range(invocations):
        for name, handler in handlers.items():
            samples[name].append(api._timed(partial(handler, hot[i % len(hot)], api.NO_CONTEXT)))
    hits = {}
    for name, app in apps.items():
        sink = app.state.runtime.impressions
        sink.flush()
        stats = getattr(sink, "stats", None)
        hits[name] = _Hits(samples[name], vars(stats) if stats else {})
    return hits
