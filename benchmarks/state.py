"""Benchmark: saving and restoring the warehouse state in S3 (pipeline/ops/state.py).

    python -m benchmarks.state [--events N] [--repeats R] [--json]

Writes a synthetic log of N events (benchmarks/data.py's generator; 20M events is the
``large`` scale), ingests it into a warehouse file, then, against a local S3 (moto's server
over HTTP on 127.0.0.1, started here), times:

- save: ``state.save`` (a new snapshot object by boto3's managed transfer, the pointer
  switched, earlier snapshots tagged), next to the bare ``upload_file`` of the same file;
- restore: ``state.restore`` (the pointer read, the snapshot downloaded, its size checked),
  next to the bare ``download_file`` of the same object.

Runs are interleaved, fastest kept (the machine is shared). ``ratio`` is seconds / bare
seconds. The sizes are the warehouse file's and the raw Parquet log's. A local S3 measures
the job's own overhead, not the network: in AWS the transfer runs at the task's bandwidth.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks import print_records
from benchmarks.data import SCALE_EVENTS, _generate, _ingest, in_child


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def run(events: int = SCALE_EVENTS["small"], repeats: int = 2, workdir: Path | None = None) -> list[dict]:
    """Save and restore records for the warehouse of a synthetic log of ``events`` events."""
    import boto3

    from infra.local.aws import LocalAWS, environment
    from pipeline.ops import state
    from pipeline.storage import S3Path

    tmp = Path(workdir or tempfile.mkdtemp(prefix="recs-bench-state-"))
    files = in_child(_generate, events, str(tmp / "events"))["files"]
    db = tmp / "warehouse.duckdb"
    db.unlink(missing_ok=True)
    rows = in_child(_ingest, files, str(db))["rows"]
    with LocalAWS() as aws, environment(aws.environment()):
        s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name=aws.region)
        bucket = f"recs-bench-{uuid.uuid4().hex[:6]}"
        s3.create_bucket(Bucket=bucket)
        remote = S3Path(bucket, "state/warehouse.duckdb", aws.endpoint_url, aws.region)
        bare_save, save, bare_restore, restore = [], [], [], []
        saved = None
        for i in range(repeats):  # interleaved, fastest kept
            bare_save.append(_timed(lambda i=i: s3.upload_file(str(db), bucket, f"bare/{i}.duckdb")))
            started = time.perf_counter()
            saved = state.save(db, remote, saved)
            save.append(time.perf_counter() - started)
            copy = tmp / f"restored-{i}.duckdb"
            bare_restore.append(
                _timed(lambda i=i, c=copy: s3.download_file(bucket, f"bare/{i}.duckdb", str(c)))
            )
            copy.unlink()
            restore.append(_timed(lambda c=copy: state.restore(remote, c)))
            assert copy.stat().st_size == db.stat().st_size
            copy.unlink()
    size = {
        "events": rows,
        "warehouse_mb": round(db.stat().st_size / 2**20, 1),
        "raw_parquet_mb": round(sum(Path(f).stat().st_size for f in files) / 2**20, 1),
    }
    return [
        _record("state save", min(save), min(bare_save), size),
        _record("state restore", min(restore), min(bare_restore), size),
    ]


def _record(name: str, seconds: float, bare: float, size: dict) -> dict:
    return {
        "name": name,
        "seconds": round(seconds, 3),
        "baseline_seconds": round(bare, 3),
        "ratio": round(seconds / bare, 3),
        "mb_per_second": round(size["warehouse_mb"] / seconds, 1),
        **size,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=SCALE_EVENTS["small"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="keep the log and the warehouse here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    print_records(run(args.events, args.repeats, args.workdir), args.json)


if __name__ == "__main__":
    main()
