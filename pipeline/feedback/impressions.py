"""Impression ingest: the impression log's objects (local files or ``s3://``) into the warehouse.

``impressions``            one row per answer, keyed by ``rec_id`` (a record delivered twice is kept once)
``impression_objects``     the manifest: one row per object read (path, size, checksum, counts)
``impression_quarantine``  every bad record: the object, its place, the rule it broke, its text

One call is one transaction: every object it reads lands, with its manifest row, or nothing does,
so a crash half-way loses nothing and the next call loads those objects again, once. An object
read before with the same checksum is skipped; one that changed (a JSON-lines file that grew) is
read again, and ``rec_id`` keeps its old records from counting twice.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.data.sources import SourceFile, discover, staged_name
from pipeline.feedback.records import Impression, Parsed, parse_object

SCHEMA = """
CREATE TABLE IF NOT EXISTS impressions (
    rec_id      VARCHAR PRIMARY KEY,
    ts          TIMESTAMP NOT NULL,
    route       VARCHAR NOT NULL,
    user_id     VARCHAR,
    item_id     VARCHAR,
    version     VARCHAR NOT NULL,
    experiment  VARCHAR,
    arm         VARCHAR,
    source      VARCHAR NOT NULL,
    items       VARCHAR[] NOT NULL,    -- in rank order: items[1] has rank 1
    object_id   INTEGER NOT NULL       -- the impression_objects row it came from
);
CREATE TABLE IF NOT EXISTS impression_objects (
    path        VARCHAR PRIMARY KEY,
    object_id   INTEGER NOT NULL UNIQUE,
    size_bytes  BIGINT NOT NULL,
    checksum    VARCHAR NOT NULL,
    records     BIGINT NOT NULL,
    duplicates  BIGINT NOT NULL,
    quarantined BIGINT NOT NULL,
    skipped     BIGINT NOT NULL,
    loaded_at   TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS impression_quarantine (
    source_file VARCHAR NOT NULL,
    position    BIGINT NOT NULL,
    reason      VARCHAR NOT NULL,
    raw         VARCHAR,
    loaded_at   TIMESTAMP NOT NULL
);
"""
COLUMNS = ("rec_id", "ts", "route", "user_id", "item_id", "version", "experiment", "arm", "source", "items")


@dataclass
class ImpressionReport:
    objects_loaded: list[str] = field(default_factory=list)
    objects_skipped: int = 0
    objects_changed: list[str] = field(default_factory=list)  # read again: only their new records count
    records: int = 0
    duplicates: int = 0  # records whose rec_id was loaded before (a delivery repeated)
    quarantined: int = 0
    skipped_lines: int = 0  # control messages and log lines that are not records
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self) | {"objects_loaded": len(self.objects_loaded)}


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SCHEMA)


def ingest_impressions(
    con: duckdb.DuckDBPyConnection,
    sources: Iterable[Path | str],
    s3_client: Callable[[], object] | None = None,
    optional: bool = True,
    now: datetime | None = None,
) -> ImpressionReport:
    """Load every object under ``sources`` not loaded before into ``impressions``, in one transaction.

    With ``optional`` a source that names nothing yet (no answer logged so far) loads nothing.
    """
    names = [str(s) for s in sources]
    ensure_schema(con)
    files = discover(names, s3_client, names if optional else (), accept=lambda name: True)
    report = ImpressionReport()
    con.begin()
    try:
        with tempfile.TemporaryDirectory(prefix="recs-impressions-") as tmp:
            for n, source in enumerate(files):
                state = seen_before(con, source)
                if state == "skipped":
                    report.objects_skipped += 1
                    continue
                parsed = parse_object(source.fetch(Path(tmp) / staged_name(n, source.name)).read_bytes(), now)
                load_object(con, source, parsed, report, changed=state == "changed")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return report


def seen_before(con: duckdb.DuckDBPyConnection, source: SourceFile) -> str | None:
    """'skipped' for an object read before unchanged, 'changed' for one whose bytes changed, else None."""
    rows = con.execute("SELECT size_bytes, checksum FROM impression_objects WHERE path = ?", [source.name])
    seen = rows.fetchall()  # fetched to the end: DuckDB refuses new work beside an unfinished result
    if not seen:
        return None
    return "skipped" if seen[0] == (source.size, source.checksum()) else "changed"


def load_object(
    con: duckdb.DuckDBPyConnection,
    source: SourceFile,
    parsed: Parsed,
    report: ImpressionReport,
    changed: bool,
) -> None:
    """Append one object's new records, quarantine its bad ones, and write its manifest row."""
    object_id = object_id_of(con, source.name)
    added = append_records(con, parsed.records, object_id)
    duplicates = len(parsed.records) - added
    if parsed.bad:
        con.executemany(
            "INSERT INTO impression_quarantine VALUES (?, ?, ?, ?, now())",
            [[source.name, bad.position, bad.reason, bad.raw] for bad in parsed.bad],
        )
    con.execute("DELETE FROM impression_objects WHERE path = ?", [source.name])
    con.execute(
        "INSERT INTO impression_objects VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())",
        [
            source.name,
            object_id,
            source.size,
            source.checksum(),
            added,
            duplicates,
            len(parsed.bad),
            parsed.skipped,
        ],
    )
    (report.objects_changed if changed else report.objects_loaded).append(source.name)
    report.records += added
    report.duplicates += duplicates
    report.quarantined += len(parsed.bad)
    report.skipped_lines += parsed.skipped
    reasons = Counter(report.quarantine_reasons) + Counter(bad.reason for bad in parsed.bad)
    report.quarantine_reasons = dict(reasons.most_common())


def object_id_of(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """The object's id: its old one when it was read before, else the next."""
    old = con.execute("SELECT object_id FROM impression_objects WHERE path = ?", [path]).fetchall()
    if old:
        return old[0][0]
    return con.execute("SELECT coalesce(max(object_id), 0) + 1 FROM impression_objects").fetchall()[0][0]


def append_records(con: duckdb.DuckDBPyConnection, records: list[Impression], object_id: int) -> int:
    """Insert the records whose rec_id is new (the first of a repeated one); returns how many."""
    if not records:
        return 0
    con.register("_recs_impression_batch", as_arrow(records))
    try:
        return con.execute(
            f"""INSERT INTO impressions
                SELECT {", ".join(COLUMNS)}, {object_id} FROM (
                    SELECT *, row_number() OVER (PARTITION BY rec_id ORDER BY position) AS copy
                    FROM _recs_impression_batch
                )
                WHERE copy = 1 AND rec_id NOT IN (SELECT rec_id FROM impressions)"""
        ).fetchall()[0][0]
    finally:
        con.unregister("_recs_impression_batch")


def as_arrow(records: list[Impression]) -> pa.Table:
    columns: dict[str, list] = {name: [getattr(r, name) for r in records] for name in COLUMNS}
    columns["items"] = [list(r.items) for r in records]
    columns["position"] = list(range(len(records)))
    return pa.table(
        columns,
        schema=pa.schema(
            [
                (
                    name,
                    pa.list_(pa.string())
                    if name == "items"
                    else pa.timestamp("us")
                    if name == "ts"
                    else pa.string(),
                )
                for name in COLUMNS
            ]
            + [("position", pa.int64())]
        ),
    )
