"""Benchmark: the serving API (FastAPI + Mangum, in-process cache, DynamoDB) next to the bare libraries.

    python -m benchmarks.api [--users N] [--invocations I] [--requests R] [--concurrency C] [--json]

One local moto server and one table of N users published with the item contract's
encoders. Every stage is measured next to a baseline taken in the same run, interleaved
where it can be: other people share this machine's cores, so the ratios are the figures;
the absolute times move with the load.

- handler hit: the Mangum handler (``lambda_api.handler``'s stack) invoked with API Gateway
  v2 events for users already cached. Baseline: the floor of the stack, a FastAPI app with
  one route returning a constant through the same Mangum.
- handler miss: each invocation asks for a user not yet cached (a DynamoDB GetItem through
  the store). Baseline: a bare boto3 ``get_item`` of a user key on the same server.
- impressions: warm hits with the impression record written (stdout, as on Lambda; a log group,
  as locally), next to the same hits with it off, interleaved (the issue's 5% bound on p50 and p99).
- cold import: ``import lambda_api.handler`` in a fresh interpreter, several runs (median).
  Baseline: ``import fastapi, mangum``, the floor any FastAPI Lambda pays.
- cold first answer: a fresh interpreter imports the handler and answers one user (boto3
  import, client, pointer and row reads). Baseline: importing boto3 and one bare get_item.
- HTTP load: uvicorn on 127.0.0.1 serving ``lambda_api.app:app``, R requests from C
  concurrent httpx clients over a small set of users (so, warm hits). Baseline: the floor
  app under uvicorn with the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial
from typing import Any

import contract
from benchmarks import api_impressions, api_rules, print_records
from infra.local.aws import LocalAWS, answers, environment, free_port

K = 20
# The local moto server on a loaded machine sometimes takes over the API's 0.5 s default read
# timeout; a timed-out read would be a degraded answer, not a miss, so the benchmark waits longer.
NO_CONTEXT: Any = None  # the Lambda context: the handler reads nothing of it
PATIENT_DYNAMODB: dict[str, Any] = {
    "dynamodb_connect_timeout": 5.0,
    "dynamodb_read_timeout": 10.0,
    "dynamodb_max_attempts": 3,
}
SCALES = {"tiny": 300, "small": 2000, "medium": 5000, "large": 10_000}


# ---------------------------------------------------------------- the table


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _user_id(n: int) -> str:
    return f"{12_000 + n}"


def _publish(client, table: str, users: int, version: str) -> None:
    """A table with ``users`` personal rows and a global popular list, and the pointer on it."""
    client.create_table(
        TableName=table,
        **contract.table_keys(),
        BillingMode="PAY_PER_REQUEST",
    )
    expires = int(time.time()) + 86400
    ranked = contract.RankedItems(
        tuple(f"{20_000 + i}A" for i in range(K)), tuple(1.0 - i / K for i in range(K))
    )
    rows = [
        contract.encode_row(contract.user_pk(_user_id(n)), version, ranked, expires) for n in range(users)
    ]
    rows.append(contract.encode_row(contract.popular_pk(), version, ranked, expires))
    for start in range(0, len(rows), 25):
        batch = [{"PutRequest": {"Item": row}} for row in rows[start : start + 25]]
        client.batch_write_item(RequestItems={table: batch})
    pointer = contract.encode_pointer(contract.Pointer(version=version, k=K), int(time.time()))
    client.put_item(TableName=table, Item=pointer)


# ---------------------------------------------------------------- the apps


def floor_app():
    """The stack's floor: FastAPI with one route that returns a constant (uvicorn ``--factory`` target)."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/v1/users/{user_id}/recommendations")
    async def constant(user_id: str) -> dict:
        return {"user_id": user_id, "items": []}

    return app


def v2_event(path: str, query: str = "") -> dict:
    """An API Gateway HTTP API (payload 2.0) event, as Lambda delivers it."""
    host = "abc123.execute-api.us-east-1.amazonaws.com"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": host, "accept": "application/json", "user-agent": "bench"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": host,
            "domainPrefix": "abc123",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "10.0.0.1",
                "userAgent": "b",
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "time": "22/Nov/2026:02:15:00 +0000",
            "timeEpoch": 1763777700000,
        },
        "isBase64Encoded": False,
    }


def _user_event(n: int) -> dict:
    return v2_event(f"/v1/users/{_user_id(n)}/recommendations", "k=10")


# ---------------------------------------------------------------- figures


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _record(name: str, samples: list[float], baseline: list[float] | None, **extra) -> dict:
    """A stage record of per-call samples (seconds): ``seconds`` is their median; ratio: of the medians."""
    p50 = statistics.median(samples)
    record = {"name": name, "seconds": round(p50, 6), "baseline_seconds": None, "ratio": None}
    record |= {"p50_ms": round(p50 * 1e3, 3), "p99_ms": round(_percentile(samples, 0.99) * 1e3, 3)}
    if baseline:
        base = statistics.median(baseline)
        record |= {"baseline_seconds": round(base, 6), "ratio": round(p50 / base, 2)}
        record |= {
            "baseline_p99_ms": round(_percentile(baseline, 0.99) * 1e3, 3),
            "p99_ratio": round(_percentile(samples, 0.99) / _percentile(baseline, 0.99), 2),
        }
    return record | {"samples": len(samples), "peak_rss_mb": round(_peak_rss_mb(), 1)} | extra


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


# ---------------------------------------------------------------- stages


def handler_stages(aws: LocalAWS, table: str, users: int, invocations: int) -> list[dict]:
    """Warm hits and misses through the Mangum handler, each next to its baseline."""
    from mangum import Mangum

    from lambda_api.app import create_app
    from lambda_api.deps import dynamodb_client
    from lambda_api.settings import ApiSettings

    settings = ApiSettings(
        table_name=table, aws_endpoint_url=aws.endpoint_url, aws_region=aws.region, impressions="off",
        **PATIENT_DYNAMODB,
    )  # fmt: skip
    handler = Mangum(create_app(settings), lifespan="off")
    floor = Mangum(floor_app(), lifespan="off")
    hot = [_user_event(n) for n in range(min(50, users))]
    for event in hot:  # reads the pointer, the popular list and the hot users' rows
        assert handler(event, NO_CONTEXT)["statusCode"] == 200
    ours, base = [], []
    for i in range(invocations):  # interleaved, so both see the same load
        ours.append(_timed(partial(handler, hot[i % len(hot)], NO_CONTEXT)))
        base.append(_timed(partial(floor, hot[i % len(hot)], NO_CONTEXT)))
    records = [_record("api handler hit (v2 event)", ours, base, target_p99_ms=1.0)]

    bare = dynamodb_client(settings)  # same timeouts and retries as the store's client
    cold = range(len(hot), users)
    misses, gets, degraded = [], [], 0
    for n in list(cold)[: min(invocations, len(cold))]:
        key = contract.row_key(contract.user_pk(_user_id(n)), "v1")
        gets.append(_timed(partial(bare.get_item, TableName=table, Key=key)))
        started = time.perf_counter()
        response = handler(_user_event(n), NO_CONTEXT)
        misses.append(time.perf_counter() - started)
        degraded += json.loads(response["body"])["degraded"]
    records.append(
        _record(
            "api handler miss vs bare get_item", misses, gets, target_ratio=1.3, degraded_answers=degraded
        )
    )
    return records


def _fresh_python(code: str, env: dict | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


IMPORT = (
    "import time; t = time.perf_counter(); import {module}; "
    "import json; print(json.dumps({{'s': time.perf_counter() - t}}))"
)
FIRST_ANSWER = """
import json, time
t = time.perf_counter()
from lambda_api.handler import handler
from benchmarks.api import v2_event
imported = time.perf_counter() - t
response = handler(v2_event("/v1/users/12000/recommendations", "k=10"), None)
assert response["statusCode"] == 200, response
print(json.dumps({"s": time.perf_counter() - t, "import": imported}))
"""
BARE_FIRST_GET = """
import json, os, time
t = time.perf_counter()
import boto3
client = boto3.client("dynamodb")
client.get_item(TableName=os.environ["RECS_TABLE_NAME"], Key={"pk": {"S": "user#12000"}, "sk": {"S": "v1"}})
print(json.dumps({"s": time.perf_counter() - t}))
"""


def _importtime(module: str) -> float:
    """The cumulative import time of ``module`` that ``python -X importtime`` reports, in seconds."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(row for row in out.stderr.splitlines() if row.rstrip().endswith(f"| {module}"))
    return int(line.split("|")[1]) / 1e6


def cold_stages(aws: LocalAWS, table: str, runs: int) -> list[dict]:
    """Fresh interpreters: the handler's import, and import plus a first answer, each next to its floor."""
    ours, floor, first, bare_first, importtime = [], [], [], [], []
    patient = {f"RECS_{name.upper()}": str(value) for name, value in PATIENT_DYNAMODB.items()}
    env = {**aws.environment(), "RECS_TABLE_NAME": table, **patient}
    for _ in range(runs):
        ours.append(_fresh_python(IMPORT.format(module="lambda_api.handler"))["s"])
        floor.append(_fresh_python(IMPORT.format(module="fastapi, mangum"))["s"])
        importtime.append(_importtime("lambda_api.handler"))
        first.append(_fresh_python(FIRST_ANSWER, env)["s"])
        bare_first.append(_fresh_python(BARE_FIRST_GET, env)["s"])
    return [
        _record(
            "api cold import (lambda_api.handler)",
            ours,
            floor,
            target_seconds=0.5,
            importtime_s=round(statistics.median(importtime), 3),
        ),
        _record("api cold first answer (import + first miss)", first, bare_first),
    ]


@contextmanager
def _uvicorn(target: str, env: dict, factory: bool = False):
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"] + (["--factory"] if factory else [])
    server = subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    try:
        _wait_for(f"http://127.0.0.1:{port}/v1/users/{_user_id(0)}/recommendations", server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for(url: str, server: subprocess.Popen, timeout: float = 30.0) -> None:
    if not answers(url, server, timeout):
        state = f"exited with code {server.returncode}" if server.poll() is not None else "did not answer"
        raise RuntimeError(f"uvicorn {state} before answering {url} within {timeout}s")


async def _load(base_url: str, requests: int, concurrency: int, users: int) -> tuple[list[float], float]:
    import httpx

    latencies: list[float] = []
    paths = [f"/v1/users/{_user_id(n)}/recommendations?k=10" for n in range(min(users, 50))]
    counter = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        for i in counter:
            started = time.perf_counter()
            response = await client.get(paths[i % len(paths)])
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))  # warm-up: a first pass
        counter = iter(range(requests))
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return latencies, time.perf_counter() - started


def http_stage(aws: LocalAWS, table: str, requests: int, concurrency: int, users: int) -> list[dict]:
    """uvicorn on 127.0.0.1 under a bounded load: throughput and latency, next to the floor app's."""
    env = {**aws.environment(), "RECS_TABLE_NAME": table}
    with _uvicorn("lambda_api.app:app", env) as url:
        ours, ours_wall = asyncio.run(_load(url, requests, concurrency, users))
    with _uvicorn("benchmarks.api:floor_app", env, factory=True) as url:
        floor, floor_wall = asyncio.run(_load(url, requests, concurrency, users))
    return [
        _record(
            f"api HTTP load (uvicorn, {concurrency} concurrent)",
            ours,
            floor,
            requests_per_second=round(requests / ours_wall, 1),
            baseline_requests_per_second=round(requests / floor_wall, 1),
        )
    ]


# ---------------------------------------------------------------- entry points


def run(
    users: int = SCALES["small"],
    invocations: int = 1000,
    requests: int = 2000,
    concurrency: int = 16,
    cold_runs: int = 5,
) -> list[dict]:
    """Stage records (see benchmarks/__init__.py) for the API against a local moto server."""
    import boto3

    table = f"recs-bench-api-{uuid.uuid4().hex[:8]}"
    with LocalAWS() as aws, environment(aws.environment()):
        client = boto3.client("dynamodb", endpoint_url=aws.endpoint_url, region_name=aws.region)
        _publish(client, table, users, "v1")
        records = handler_stages(aws, table, users, invocations)
        records += api_impressions.impression_stages(aws, table, invocations)
        records += cold_stages(aws, table, cold_runs)
        records += http_stage(aws, table, requests, concurrency, users)
        records += api_rules.rules_stage(aws, users, invocations)
    return records


def stages(scale: str = "small") -> list[dict]:
    """The records ``recs bench --scale`` collects (the local server is slow: at most 2,000 users)."""
    if scale == "tiny":
        return run(users=SCALES["tiny"], invocations=250, requests=500, cold_runs=3)
    return run(users=min(SCALES[scale], 2000))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=SCALES["small"])
    parser.add_argument("--invocations", type=int, default=1000, help="handler invocations per stage")
    parser.add_argument("--requests", type=int, default=2000, help="HTTP requests in the load run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh interpreters per cold figure")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the records")
    args = parser.parse_args(argv)
    records = run(args.users, args.invocations, args.requests, args.concurrency, args.cold_runs)
    print_records(records, args.json)


if __name__ == "__main__":
    main()
