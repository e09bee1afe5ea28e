"""Benchmark: publishing to DynamoDB next to a bare boto3 ``batch_writer`` loop, in the same run.

    python -m benchmarks.publish [--users N] [--workers W] [--repeats R] [--json]

Starts its own local moto server, builds a synthetic version (N users, k=50, realistic
5-6 character item ids), and times on fresh tables of the same server:

- baseline: W threads, each writing its share of the same encoded rows with
  ``boto3.resource("dynamodb").Table(...).batch_writer()`` (rows decoded to Python
  values beforehand, so the baseline pays only its own serialisation);
- ``writer.publish`` with W workers, then with 2W: the whole stage (table check,
  registry, encoding the rows, parallel writes, read-back verification, flip).

Each is run ``repeats`` times, interleaved, and the fastest run kept: five other
people share this machine's two cores, so single timings are noisy; the ratio of
runs taken side by side is the figure. ``ratio`` is seconds / baseline seconds
(below 1: faster than the bare loop); ``throughput_ratio`` is its inverse.
"""

from __future__ import annotations

import argparse
import resource
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import boto3
import numpy as np
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config

import contract
from benchmarks import print_records
from infra.local.aws import LocalAWS
from pipeline.precompute.recommend import Precomputed, TopK
from pipeline.publish import dynamo, writer

FAKE_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
SCALES = {"small": 1_500, "medium": 5_000, "large": 20_000}  # users: the local server writes ~1-2k rows/s


def synthetic_version(users: int, k: int = 50, seed: int = 0) -> Precomputed:
    """``users`` users and a tenth as many items, with k=50 lists of realistic stock-code ids ("85123A")."""
    items = max(100, users // 10)
    rng = np.random.default_rng(seed)
    codes = rng.choice(90_000, size=items, replace=False) + 10_000
    suffixes = rng.choice(["", "", "", "A", "B"], size=items)
    item_ids = np.array(
        [f"{c}{s}" for c, s in zip(codes.tolist(), suffixes.tolist(), strict=True)], dtype=object
    )
    user_ids = np.array(
        [str(u) for u in rng.choice(900_000, size=users, replace=False) + 12_000], dtype=object
    )

    def top(n: int, width: int) -> TopK:
        ids = rng.integers(0, items, size=(n, width), dtype=np.int32)
        scores = -np.sort(-rng.gamma(2.0, 0.2, size=(n, width)).astype(np.float32), axis=1)
        return TopK(ids, scores)

    return Precomputed(user_ids, item_ids, top(users, k), top(items, 20), {"global": top(1, k)}, k)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _create_table(client, table: str) -> str:
    dynamo.check_table(client, table, create=True)
    return table


def bare_batch_writer(endpoint_url: str, region: str, table: str, rows: list[dict], workers: int) -> None:
    """The baseline: ``workers`` threads, each a boto3 ``batch_writer`` over its slice of the rows."""
    session = boto3.session.Session(**FAKE_KEYS)
    resource_ = session.resource(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(max_pool_connections=2 * workers),
    )

    def write(part: list[dict]) -> None:
        with resource_.Table(table).batch_writer() as writer:
            for row in part:
                writer.put_item(Item=row)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done in [pool.submit(write, rows[i::workers]) for i in range(workers)]:
            done.result()


def _best_of(repeats: int, runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """The fastest of ``repeats`` interleaved runs of each callable."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def row_sizes(pre: Precomputed) -> dict:
    """Average and largest billed size of the version's user rows and of all rows, in bytes."""
    sizes = [
        contract.item_size(r) for r in writer.version_rows("20261122T021500Z-3f9a1c", pre, 1_790_000_000)
    ]
    users = sizes[: len(pre.user_ids)]
    return {
        "avg_user_row_bytes": round(float(np.mean(users)), 1),
        "max_user_row_bytes": max(users),
        "avg_row_bytes": round(float(np.mean(sizes)), 1),
        "user_rows_over_1kb": sum(s > contract.WRITE_UNIT_BYTES for s in users),
    }


def run(users: int = SCALES["small"], workers: int = 4, repeats: int = 2) -> list[dict]:
    """Stage records (see benchmarks/__init__.py) for publishing ``users`` users at k=50."""
    pre = synthetic_version(users)
    deserialize = TypeDeserializer().deserialize
    rows = list(writer.version_rows("bench", pre, int(time.time()) + 86400))
    plain_rows = [{name: deserialize(value) for name, value in row.items()} for row in rows]
    with LocalAWS() as aws:
        client = boto3.client(
            "dynamodb",
            endpoint_url=aws.endpoint_url,
            region_name=aws.region,
            config=Config(max_pool_connections=4 * workers),
            **FAKE_KEYS,
        )
        tables = iter(_create_table(client, f"bench-{uuid.uuid4().hex[:8]}") for _ in range(3 * repeats))

        def ours(n_workers: int) -> Callable[[], object]:
            return lambda: writer.publish(
                client, next(tables), "bench", pre, {}, ttl_days=1, workers=n_workers
            )

        best = _best_of(
            repeats,
            {
                "bare": lambda: bare_batch_writer(
                    aws.endpoint_url, aws.region, next(tables), plain_rows, workers
                ),
                "same": ours(workers),
                "more": ours(2 * workers),
            },
        )
    base = best["bare"]
    records = [
        {
            "name": f"publish ({n} workers) vs bare batch_writer ({workers} threads)",
            "seconds": round(best[key], 3),
            "baseline_seconds": round(base, 3),
            "ratio": round(best[key] / base, 3),
            "peak_rss_mb": round(_peak_rss_mb(), 1),
            "rows": len(rows),
            "rows_per_s": round(len(rows) / best[key], 1),
            "baseline_rows_per_s": round(len(rows) / base, 1),
            "throughput_ratio": round(base / best[key], 3),
        }
        for key, n in (("same", workers), ("more", 2 * workers))
    ]
    sizes = row_sizes(pre)
    records.append(
        {"name": "publish row size at k=50", "seconds": 0.0, "baseline_seconds": None, "ratio": None,
         "peak_rss_mb": round(_peak_rss_mb(), 1), **sizes}
    )  # fmt: skip
    return records


def stages(scale: str = "small", workers: int = 4) -> list[dict]:
    """The records ``recs bench --scale`` collects: a subset of users (the local server is slow)."""
    return run(users=SCALES[scale], workers=workers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.publish", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=SCALES["small"])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the records")
    args = parser.parse_args(argv)
    print_records(run(args.users, args.workers, args.repeats), args.json)


if __name__ == "__main__":
    main()
