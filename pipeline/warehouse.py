"""The DuckDB warehouse file: its tables and how to open it."""

from __future__ import annotations

from pathlib import Path

import duckdb

SCHEMA = """
CREATE TABLE IF NOT EXISTS raw_events (
    user_id     VARCHAR NOT NULL,
    item_id     VARCHAR NOT NULL,
    event_type  VARCHAR NOT NULL,
    ts          TIMESTAMP NOT NULL,
    quantity    DOUBLE,
    price       DOUBLE,
    country     VARCHAR,
    source_file VARCHAR NOT NULL,
    source_row  BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    source_file VARCHAR NOT NULL,
    source_row  BIGINT NOT NULL,
    reason      VARCHAR NOT NULL,
    raw         VARCHAR,
    loaded_at   TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS manifest (
    path        VARCHAR PRIMARY KEY,
    size_bytes  BIGINT NOT NULL,
    sha256      VARCHAR NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    loaded_at   TIMESTAMP NOT NULL
);
"""


def connect(path: Path | str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and, when writable, create) the warehouse with its schema in place."""
    path = Path(path)
    if read_only:
        if not path.exists():
            raise FileNotFoundError(f"warehouse {path} does not exist: run `recs ingest` first")
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute(SCHEMA)
    return con
