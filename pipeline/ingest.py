"""Ingest: append event files to the warehouse's ``raw_events``, as they came.

Each file is loaded in its own transaction: its good rows go to ``raw_events``,
rows that break a rule go to ``quarantine`` with the reason, and a row in
``manifest`` records the file's size and checksum, so that loading the same file
again adds nothing and a changed file under a loaded name is reported, not
double-counted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipeline.errors import PipelineError
from pipeline.settings import REQUIRED_COLUMNS

OPTIONAL_COLUMNS = ("quantity", "price", "country")
READERS = {
    ".parquet": "read_parquet('{path}')",
    ".csv": "read_csv('{path}', header=true)",
    ".jsonl": "read_json('{path}', format='newline_delimited')",
    ".json": "read_json('{path}', format='auto')",
}


class IngestError(PipelineError):
    """An input file cannot be loaded; nothing of it was stored."""


@dataclass
class IngestReport:
    files_loaded: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    rows_loaded: int = 0
    rows_quarantined: int = 0

    def as_dict(self) -> dict:
        return {
            "files_loaded": len(self.files_loaded),
            "files_skipped": len(self.files_skipped),
            "files_changed": self.files_changed,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
        }


def discover(sources: Iterable[Path | str]) -> list[Path]:
    """Event files named by ``sources``: files as given, directories searched recursively."""
    files: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            found = sorted(p for p in source.rglob("*") if p.suffix.lower() in READERS)
            if not found:
                raise IngestError(f"{source}: directory holds no {'/'.join(READERS)} files")
            files.extend(found)
        elif source.is_file():
            if source.suffix.lower() not in READERS:
                raise IngestError(f"{source}: unsupported file type (expected {'/'.join(READERS)})")
            files.append(source)
        else:
            raise IngestError(f"{source}: no such file or directory")
    return files


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def reader_sql(path: Path) -> str:
    return READERS[path.suffix.lower()].format(path=str(path).replace("'", "''"))


def source_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    try:
        return [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {reader_sql(path)}").fetchall()]
    except duckdb.Error as err:
        raise IngestError(f"{path}: unreadable: {err}") from None


def staging_sql(
    path: Path, available: Sequence[str], column_map: dict[str, str], known_event_types: Sequence[str]
) -> str:
    """One pass over the file: normalised columns plus the first rule each row breaks."""

    def col(name: str) -> str:
        source = column_map.get(name, name)
        return f'"{source}"' if source in available else "NULL"

    known = ", ".join("'" + t.replace("'", "''") + "'" for t in known_event_types)
    return f"""
        SELECT *,
            CASE
                WHEN user_id IS NULL OR trim(user_id) = '' THEN 'missing user_id'
                WHEN item_id IS NULL OR trim(item_id) = '' THEN 'missing item_id'
                WHEN ts IS NULL THEN 'missing or unparseable ts'
                WHEN event_type IS NULL OR event_type NOT IN ({known}) THEN 'unknown event_type'
                WHEN quantity IS NOT NULL AND abs(quantity) > 1e6 THEN 'absurd quantity'
            END AS reason
        FROM (
            SELECT
                TRY_CAST({col("user_id")} AS VARCHAR) AS user_id,
                TRY_CAST({col("item_id")} AS VARCHAR) AS item_id,
                lower(TRY_CAST({col("event_type")} AS VARCHAR)) AS event_type,
                TRY_CAST({col("ts")} AS TIMESTAMP) AS ts,
                TRY_CAST({col("quantity")} AS DOUBLE) AS quantity,
                TRY_CAST({col("price")} AS DOUBLE) AS price,
                TRY_CAST({col("country")} AS VARCHAR) AS country,
                row_number() OVER () AS source_row
            FROM {reader_sql(path)}
        )
    """


def load_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    column_map: dict[str, str],
    known_event_types: Sequence[str],
    max_bad_fraction: float,
) -> tuple[int, int]:
    """Stage one file and append it; returns (rows loaded, rows quarantined).

    Runs inside the caller's transaction: an error leaves nothing of the file behind.
    """
    available = source_columns(con, path)
    missing = [c for c in REQUIRED_COLUMNS if column_map.get(c, c) not in available]
    if missing:
        wanted = ", ".join(column_map.get(c, c) for c in missing)
        raise IngestError(f"{path}: missing required column(s) {wanted} (found: {', '.join(available)})")
    staging = staging_sql(path, available, column_map, known_event_types)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS {staging}")
    except duckdb.Error as err:
        raise IngestError(f"{path}: unreadable: {err}") from None
    good, bad = con.execute(
        "SELECT count(*) FILTER (reason IS NULL), count(*) FILTER (reason IS NOT NULL) FROM staged"
    ).fetchone()
    if good + bad == 0:
        raise IngestError(f"{path}: file holds no rows")
    if bad / (good + bad) > max_bad_fraction:
        reasons = con.execute(
            "SELECT reason, count(*) FROM staged WHERE reason IS NOT NULL GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
        summary = ", ".join(f"{n} {r}" for r, n in reasons)
        raise IngestError(
            f"{path}: {bad} of {good + bad} rows are bad ({bad / (good + bad):.1%}), over the "
            f"max_bad_fraction of {max_bad_fraction:.1%}: {summary}"
        )
    name = str(path.resolve())
    con.execute(
        """INSERT INTO raw_events
           SELECT user_id, item_id, event_type, ts, quantity, price, country, ?, source_row
           FROM staged WHERE reason IS NULL""",
        [name],
    )
    con.execute(
        """INSERT INTO quarantine
           SELECT ?, source_row, reason,
                  to_json(struct_pack(user_id, item_id, event_type, ts, quantity, price, country))::VARCHAR,
                  now()
           FROM staged WHERE reason IS NOT NULL""",
        [name],
    )
    con.execute(
        "INSERT INTO manifest VALUES (?, ?, ?, ?, ?, now())",
        [name, path.stat().st_size, sha256_of(path), good, bad],
    )
    con.execute("DROP TABLE staged")
    return good, bad


def ingest(
    con: duckdb.DuckDBPyConnection,
    sources: Iterable[Path | str],
    column_map: dict[str, str] | None = None,
    known_event_types: Sequence[str] = ("view", "cart", "purchase", "return"),
    max_bad_fraction: float = 0.05,
) -> IngestReport:
    """Append every new file under ``sources`` to ``raw_events``; skip files already loaded.

    All files of one call load in one transaction: if any file fails, the error
    names it and the warehouse is left exactly as it was.
    """
    report = IngestReport()
    files = discover(sources)
    con.begin()
    try:
        for path in files:
            name = str(path.resolve())
            seen = con.execute("SELECT sha256, size_bytes FROM manifest WHERE path = ?", [name]).fetchone()
            if seen is not None:
                sha, size = seen
                if size != path.stat().st_size or sha != sha256_of(path):
                    report.files_changed.append(name)
                else:
                    report.files_skipped.append(name)
                continue
            good, bad = load_file(con, path, column_map or {}, known_event_types, max_bad_fraction)
            report.files_loaded.append(name)
            report.rows_loaded += good
            report.rows_quarantined += bad
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return report
