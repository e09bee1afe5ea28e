"""The impression record's cost on the hit path (issue 14): warm hits through the Mangum handler
with each sink on, next to the same hits with it off, interleaved. Run inside ``python -m
benchmarks.api``; the API benchmark's helpers come from there."""

from __future__ import annotations

import subprocess
import uuid
from contextlib import contextmanager
from functools import partial
from typing import Any

from infra.local.aws import LocalAWS


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


def impression_stages(aws: LocalAWS, table: str, invocations: int) -> list[dict]:
    """Warm hits with the impression record on, next to the same hits with it off, interleaved:
    ``stdout`` (Lambda: one flushed line on a pipe another process drains) and, in a pair of its
    own, ``log_group`` (local: a queue that a thread sends to moto's log group, whose subscription
    carries it through Firehose to S3). A process runs one sink, so each is timed next to ``off`` alone."""
    import boto3

    from benchmarks import api
    from infra.local.impressions import wire_impressions

    session = boto3.session.Session(region_name=aws.region)
    bucket = f"recs-bench-imp-{uuid.uuid4().hex[:8]}"
    session.client("s3").create_bucket(Bucket=bucket)
    group = wire_impressions(session, f"/aws/lambda/{table}", bucket).log_group
    with _stdout_to_a_drained_pipe():
        on, off, _ = _hits_with_and_without(aws, table, invocations, "stdout", group)
    records = [api._record("api hit, impressions on stdout vs off", on, off, target_ratio=1.05)]
    on, off, shipped = _hits_with_and_without(aws, table, invocations, "log_group", group)
    records.append(
        api._record("api hit, impressions to a log group vs off", on, off, target_ratio=1.05,
                records_sent=shipped.get("sent"), records_dropped=shipped.get("dropped"))
    )  # fmt: skip
    return records


def _hits_with_and_without(
    aws: LocalAWS, table: str, invocations: int, sink: str, group: str
) -> tuple[list[float], list[float], dict]:
    """Per-call seconds of warm hits with ``sink``, and with impressions off, interleaved."""
    from mangum import Mangum

    from benchmarks import api
    from lambda_api.app import create_app
    from lambda_api.settings import ApiSettings

    base: dict[str, Any] = {
        "table_name": table,
        "aws_endpoint_url": aws.endpoint_url,
        "aws_region": aws.region,
    }
    apps = {
        name: create_app(
            ApiSettings(**base, **api.PATIENT_DYNAMODB, impressions=name, impressions_log_group=group)
        )
        for name in (sink, "off")
    }
    handlers = {name: Mangum(app, lifespan="off") for name, app in apps.items()}
    hot = [api._user_event(n) for n in range(50)]
    for handler in handlers.values():
        for event in hot:
            assert handler(event, api.NO_CONTEXT)["statusCode"] == 200
    samples: dict[str, list[float]] = {name: [] for name in handlers}
    for i in range(invocations):  # interleaved, so both see the same load
        for name, handler in handlers.items():
            samples[name].append(api._timed(partial(handler, hot[i % len(hot)], api.NO_CONTEXT)))
    impressions = apps[sink].state.runtime.impressions
    impressions.flush()
    stats = getattr(impressions, "stats", None)
    return samples[sink], samples["off"], vars(stats) if stats else {}
