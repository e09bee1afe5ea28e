"""Benchmark: the feedback step (impression ingest, the join) next to DuckDB doing the bare work.

    python -m benchmarks.feedback [--impressions N] [--repeats R] [--json]

Writes N impression records (10 items each, users drawn with a heavy tail) as gzipped
JSON-lines objects of 10,000 records, and 2N events (views and some purchases of listed
items, half carrying their rec_id back), then times, interleaved ``repeats`` times, fastest kept
(this machine is shared, so runs side by side are the figure):

- impression ingest: ``ingest_impressions`` (parsing and checking every record, the manifest,
  rec_id de-duplication; one transaction) next to DuckDB's bare ``read_json`` of the same
  objects into a table;
- the join: ``attribution.per_unit`` (rec_id or (user, item) in the window, per user) next to a
  bare SQL join of events to the unnested listed items on (user, item), counted per user.

``ratio`` is seconds / baseline seconds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from benchmarks import print_records

PER_OBJECT = 10_000
START = datetime(2026, 11, 1)
BARE_JOIN = """
SELECT e.user_id, count(*) FROM raw_events e
JOIN (SELECT user_id, unnest(items) AS item FROM impressions) l
  ON e.user_id = l.user_id AND e.item_id = l.item
GROUP BY 1
"""


def write_log(n: int, root: Path, seed: int = 0) -> tuple[list[Path], Path]:
    """The impression objects and one events file."""
    rng = np.random.default_rng(seed)
    users = max(10, n // 20)
    user = rng.choice(users, n, p=(w := rng.lognormal(0, 1.2, users)) / w.sum())
    items = rng.integers(0, max(100, n // 50), (n, 10))
    at = [START + timedelta(seconds=int(s)) for s in np.sort(rng.integers(0, 20 * 86_400, n))]
    objects = []
    for start in range(0, n, PER_OBJECT):
        lines = [
            json.dumps(impression(k, at[k], user[k], items[k]))
            for k in range(start, min(start + PER_OBJECT, n))
        ]
        path = root / "impressions" / f"part-{start // PER_OBJECT:05d}.json.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
        objects.append(path)
    pick = rng.integers(0, n, 2 * n)
    rank = rng.integers(0, 10, 2 * n)
    events = root / "events.jsonl"
    with events.open("w") as f:
        for j, (k, r) in enumerate(zip(pick, rank, strict=True)):
            f.write(
                json.dumps(
                    {
                        "user_id": f"u{user[k]}",
                        "item_id": f"i{items[k, r]}",
                        "event_type": "purchase" if j % 10 == 0 else "view",
                        "ts": (at[k] + timedelta(minutes=5)).isoformat() + "Z",
                        "rec_id": f"r{k}" if j % 2 else None,
                    }
                )
                + "\n"
            )
    return objects, events


def impression(k: int, at: datetime, user: int, items: np.ndarray) -> dict:
    return {
        "rec_id": f"r{k}",
        "ts": at.isoformat() + "Z",
        "route": "user",
        "user_id": f"u{user}",
        "item_id": None,
        "version": "v1",
        "experiment": "e",
        "arm": ("control", "treatment")[k % 2],
        "source": "personal",
        "items": [f"i{i}" for i in items],
    }


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def run(n: int, repeats: int) -> list[dict]:
    from pipeline.data import warehouse
    from pipeline.data.ingest import ingest
    from pipeline.feedback.attribution import per_unit
    from pipeline.feedback.impressions import ingest_impressions

    with tempfile.TemporaryDirectory(prefix="recs-bench-feedback-") as tmp:
        root = Path(tmp)
        objects, events = write_log(n, root)
        best = {
            "ingest": float("inf"),
            "bare_read": float("inf"),
            "join": float("inf"),
            "bare_join": float("inf"),
        }
        for r in range(repeats):
            db = root / f"w{r}.duckdb"
            with warehouse.connect(db) as con:
                best["ingest"] = min(best["ingest"], timed(lambda: ingest_impressions(con, objects)))
                ingest(con, [events])
                best["join"] = min(best["join"], timed(lambda: per_unit(con, START, 24)))
                best["bare_join"] = min(best["bare_join"], timed(lambda: con.execute(BARE_JOIN).fetchall()))
            with warehouse.connect(root / f"bare{r}.duckdb") as con:
                best["bare_read"] = min(
                    best["bare_read"],
                    timed(
                        lambda: con.execute(
                            "CREATE TABLE t AS SELECT * FROM read_json($files, format='newline_delimited')",
                            {"files": [str(p) for p in objects]},
                        ).fetchall()
                    ),
                )
    return [
        record("impression ingest", best["ingest"], best["bare_read"]) | {"impressions": n},
        record("feedback join", best["join"], best["bare_join"]) | {"events": 2 * n},
    ]


def record(name: str, seconds: float, baseline: float) -> dict:
    return {
        "name": name,
        "seconds": round(seconds, 3),
        "baseline_seconds": round(baseline, 3),
        "ratio": round(seconds / baseline, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impressions", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    print_records(run(args.impressions, args.repeats), args.json)


if __name__ == "__main__":
    main()
