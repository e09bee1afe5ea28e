"""Benchmark: the data layer (ingest, holdout split, training matrix) next to DuckDB's bare load.

    python -m benchmarks.data [--events N] [--repeats R] [--json]

Writes a synthetic log of N events with the project's generator (one Parquet file
per day; 20M events is the ``large`` scale: 500k users, 50k items), then times,
each stage in a fresh child process so that its peak RSS is its own:

- baseline: DuckDB's bare ``CREATE TABLE ... AS SELECT * FROM read_parquet(files)``
  into a new database file (connect, load, close);
- ingest: ``pipeline.ingest.ingest`` of the same files into a new warehouse
  (validation, quarantine, manifest and checksums, stable id maps; one transaction);
  baseline and ingest run ``repeats`` times, interleaved, fastest kept: other people
  share this machine's two cores, so the ratio of runs taken side by side is the figure;
- holdout split: ``splits.holdout`` (time split, the flow's default) on the warehouse;
- interactions: ``load_matrix``, the training matrix, next to a bare SQL
  ``GROUP BY user_id, item_id`` of weights fetched to NumPy;
- random split: the per-user random split, for reference (not part of the nightly default).

The "data layer" record adds up ingest, holdout split and interactions (its peak is
the largest of theirs). ``ratio`` is seconds / baseline seconds. ``cpu_seconds`` (user +
system time of the stage's process, DuckDB's threads included) is given too: on a
shared machine it moves less than wall-clock time does.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from benchmarks import print_records
from pipeline.data.splits import SplitKind

SCALE_EVENTS = {"tiny": 20_000, "small": 200_000, "medium": 2_000_000, "large": 20_000_000}
WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}


# ---------------------------------------------------------------- the work, run in children


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _generate(events: int, out_dir: str) -> dict:
    from infra.local.synthetic import SCALES, SyntheticSpec, write_daily

    done = Path(out_dir) / f".{events}-events"
    if done.exists():  # a kept --workdir: the same log again
        return {"files": sorted(str(p) for p in Path(out_dir).glob("*.parquet"))}
    spec = next((s for s in SCALES.values() if s.events == events), None)
    spec = spec or SyntheticSpec(events=events, users=max(100, events // 40), items=max(50, events // 400))
    files = [str(p) for p in write_daily(spec, Path(out_dir))]
    done.touch()
    return {"files": files}


def _bare_load(files: list[str], db: str) -> dict:
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect(db)
    con.execute("CREATE TABLE events AS SELECT * FROM read_parquet($files)", {"files": files})
    con.close()
    return {"seconds": time.perf_counter() - start}


def _ingest(files: list[str], db: str) -> dict:
    from pipeline.data import warehouse
    from pipeline.data.ingest import ingest

    start = time.perf_counter()
    con = warehouse.connect(db)
    report = ingest(con, files)
    con.close()
    return {"seconds": time.perf_counter() - start, "rows": report.rows_loaded}


def _rules():
    from pipeline.data.interactions import InteractionRules

    return InteractionRules(WEIGHTS)


def _split(db: str, how: SplitKind) -> dict:
    from pipeline.data import splits, warehouse

    start = time.perf_counter()
    with warehouse.connect(db, read_only=True) as con:
        held = splits.holdout(con, _rules(), how, holdout_days=7, test_fraction=0.2, seed=0)
    return {
        "seconds": time.perf_counter() - start,
        "train_nnz": held.train.user_items.nnz,
        "test_nnz": held.test.nnz,
    }


def _interactions(db: str) -> dict:
    from pipeline.data import warehouse
    from pipeline.data.interactions import load_matrix

    start = time.perf_counter()
    with warehouse.connect(db, read_only=True) as con:
        data = load_matrix(con, _rules())
    users, items = data.shape
    return {
        "seconds": time.perf_counter() - start,
        "users": users,
        "items": items,
        "nnz": data.user_items.nnz,
    }


def _bare_interactions(db: str) -> dict:
    import duckdb

    start = time.perf_counter()
    with duckdb.connect(db, read_only=True) as con:
        con.execute(
            """SELECT user_id, item_id, sum(CASE event_type WHEN 'view' THEN 1.0 WHEN 'cart' THEN 3.0
                                                  WHEN 'purchase' THEN 5.0 ELSE 0 END)::FLOAT AS weight
               FROM raw_events GROUP BY user_id, item_id"""
        ).fetchnumpy()
    return {"seconds": time.perf_counter() - start}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _measured(work: Callable[..., dict], *args) -> dict:
    import pipeline.data.ingest
    import pipeline.data.interactions  # noqa: F401  (imports are not the stage's work)

    cpu = _cpu_seconds()
    figures = work(*args)
    return figures | {"cpu_seconds": round(_cpu_seconds() - cpu, 2), "peak_rss_mb": round(_peak_rss_mb(), 1)}


def in_child(work: Callable[..., dict], *args) -> dict:
    """``work(*args)`` in a fresh spawned process; its figures plus that process's peak RSS."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_measured, work, *args).result()


# ---------------------------------------------------------------- the benchmark


def _record(name: str, run: dict, baseline: dict | None = None, **extra) -> dict:
    base = baseline["seconds"] if baseline else None
    figures = {k: v for k, v in run.items() if k not in ("seconds", "peak_rss_mb")}
    return {
        "name": name,
        "seconds": round(run["seconds"], 3),
        "baseline_seconds": round(base, 3) if base else None,
        "ratio": round(run["seconds"] / base, 3) if base else None,
        "peak_rss_mb": run["peak_rss_mb"],
        **({"baseline_peak_rss_mb": baseline["peak_rss_mb"]} if baseline else {}),
        **({"baseline_cpu_seconds": baseline["cpu_seconds"]} if baseline else {}),
        **figures,
        **extra,
    }


def _fresh(path: Path) -> str:
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    return str(path)


def run(events: int = SCALE_EVENTS["small"], repeats: int = 2, workdir: Path | None = None) -> list[dict]:
    """Stage records for a synthetic log of ``events`` events (see the module docstring)."""
    tmp = Path(workdir or tempfile.mkdtemp(prefix="recs-bench-data-"))
    try:
        files = in_child(_generate, events, str(tmp / "events"))["files"]
        size_mb = sum(Path(f).stat().st_size for f in files) / 2**20
        bare, ours = [], []
        for _ in range(repeats):  # interleaved, fastest kept
            bare.append(in_child(_bare_load, files, _fresh(tmp / "bare.duckdb")))
            ours.append(in_child(_ingest, files, _fresh(tmp / "warehouse.duckdb")))
        bare_best = min(bare, key=lambda r: r["seconds"])
        ours_best = min(ours, key=lambda r: r["seconds"])
        db = str(tmp / "warehouse.duckdb")
        split = in_child(_split, db, "time")
        matrix_bare = in_child(_bare_interactions, db)
        matrix = in_child(_interactions, db)
        random_split = in_child(_split, db, "random-per-user")
        layer = {
            "seconds": ours_best["seconds"] + split["seconds"] + matrix["seconds"],
            "cpu_seconds": round(sum(r["cpu_seconds"] for r in (ours_best, split, matrix)), 2),
            "peak_rss_mb": max(ours_best["peak_rss_mb"], split["peak_rss_mb"], matrix["peak_rss_mb"]),
        }
        load = {"events": events, "files": len(files), "parquet_mb": round(size_mb, 1)}
        return [
            _record("data: ingest", ours_best, bare_best, **load),
            _record("data: holdout split (time)", split),
            _record("data: interactions matrix", matrix, matrix_bare),
            _record("data: random per-user split", random_split),
            _record("data layer: ingest + split + matrix", layer, events=events),
        ]  # fmt: skip
    finally:
        if workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)


def stages(scale: str = "small", repeats: int = 2) -> list[dict]:
    """The records ``recs bench --scale`` collects."""
    return run(events=SCALE_EVENTS[scale], repeats=repeats)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.data", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=SCALE_EVENTS["small"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--workdir", type=Path, help="keep the files and warehouses here (default: a temp dir)"
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the records")
    args = parser.parse_args(argv)
    print_records(run(args.events, args.repeats, args.workdir), args.json)


if __name__ == "__main__":
    main()
