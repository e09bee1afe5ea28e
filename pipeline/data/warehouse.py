"""The DuckDB warehouse file: its tables and how to open it.

``raw_events``   every good event as it came (append-only), with the file (``file_id``) and row,
                 and the ``rec_id`` of the answer it followed when the log carries one
``quarantine``   every rejected row: file, row, the first rule it broke, the row as JSON
``manifest``     one row per loaded file: path (local or ``s3://``), size, checksum, rows, load time
``user_ids`` / ``item_ids``
                 stable integer indices: an id keeps its index for as long as the warehouse
                 lives (indices are never reused), new ids get the next ones in sorted order
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.storage import Location, S3Path, StorageError

SCHEMA = """
CREATE TABLE IF NOT EXISTS raw_events (
    user_id     VARCHAR NOT NULL,
    item_id     VARCHAR NOT NULL,
    event_type  VARCHAR NOT NULL,
    ts          TIMESTAMP NOT NULL,
    quantity    DOUBLE,
    price       DOUBLE,
    country     VARCHAR,
    file_id     INTEGER NOT NULL,   -- the manifest row of the file it came from
    source_row  BIGINT NOT NULL,
    rec_id      VARCHAR,            -- the answer (its rec_id) the event followed, when the log says
    weight      DOUBLE              -- an optional weight (or rating), multiplying its event type's
);
-- a warehouse made before a column existed gains it (NULL for its old rows), so it reads like a new one
ALTER TABLE raw_events ADD COLUMN IF NOT EXISTS rec_id VARCHAR;
ALTER TABLE raw_events ADD COLUMN IF NOT EXISTS weight DOUBLE;
CREATE TABLE IF NOT EXISTS quarantine (
    source_file VARCHAR NOT NULL,
    source_row  BIGINT NOT NULL,
    reason      VARCHAR NOT NULL,
    raw         VARCHAR,
    loaded_at   TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS manifest (
    path        VARCHAR PRIMARY KEY,
    file_id     INTEGER NOT NULL UNIQUE,
    size_bytes  BIGINT NOT NULL,
    checksum    VARCHAR NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    loaded_at   TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS user_ids (
    user_id     VARCHAR PRIMARY KEY,
    idx         INTEGER NOT NULL UNIQUE,
    first_seen  TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS item_ids (
    item_id     VARCHAR PRIMARY KEY,
    idx         INTEGER NOT NULL UNIQUE,
    first_seen  TIMESTAMP NOT NULL
);
"""

# new ids (in raw_events, not yet in the map) get the next indices, in sorted id order
EXTEND_ID_MAP = """
INSERT INTO {kind}_ids
SELECT {kind}_id,
       (SELECT coalesce(max(idx), -1) FROM {kind}_ids) + row_number() OVER (ORDER BY {kind}_id) AS idx,
       now()
FROM (SELECT DISTINCT {kind}_id FROM raw_events {where}) AS seen
WHERE {kind}_id NOT IN (SELECT {kind}_id FROM {kind}_ids)
"""


# Event times are stored as UTC without a zone; the session zone is UTC too, so that a zone-aware
# column or a "+05:00" string converts to UTC rather than to the host's zone, whatever TZ says.


def connect(path: Location | str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and, when writable, create) the warehouse with its schema in place.

    A warehouse kept in S3 is opened through its local copy (``pipeline.ops.state.restored``)."""
    if isinstance(path, S3Path):
        raise StorageError(
            f"warehouse {path} is kept in S3: open the local copy that pipeline.ops.state restores "
            "(the nightly run and `recs recommend` do)"
        )
    path = Path(path)
    if read_only:
        if not path.exists():
            raise FileNotFoundError(f"warehouse {path} does not exist: run `recs ingest` first")
        return in_utc(duckdb.connect(str(path), read_only=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    con = in_utc(duckdb.connect(str(path)))
    con.execute(SCHEMA)
    return con


def in_utc(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """The connection with its session zone set to UTC (ICU is built in; it cannot be set at connect)."""
    con.execute("SET TimeZone = 'UTC'")
    return con


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple:
    """The single row of an aggregate query (one that always returns exactly one row)."""
    row = con.execute(sql, params).fetchone()
    if row is None:
        raise RuntimeError(f"query returned no row: {sql}")
    return row


def extend_id_maps(con: duckdb.DuckDBPyConnection, from_file_id: int = 0) -> tuple[int, int]:
    """Give every user and item of ``raw_events`` from files ``from_file_id`` on a stable index.

    File ids only grow, so the files of one ingest call are those from its first id on.
    Existing indices never change; returns (new users, new items).
    """
    added = []
    for kind in ("user", "item"):
        sql = EXTEND_ID_MAP.format(kind=kind, where="WHERE file_id >= ?")
        added.append(one_row(con, sql, [from_file_id])[0])
    return added[0], added[1]
