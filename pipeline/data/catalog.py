"""The catalog: what the shop sells, loaded from item files into the warehouse beside the events.

A catalog file (CSV, Parquet or JSON lines; local or ``s3://``, found by
``pipeline.data.sources``) holds one row per item:

``item_id``     required; the id rule (``contract.ID_RULE``), as for events
``name``        text for people (at most ``MAX_NAME_LENGTH`` characters)
``category``    one name or a path (``home/kitchen``): parts joined by ``/``, each following the id rule
``price``       a number from 0 to ``staging.MAX_PRICE``
``available``   true / false (``t``, ``1``, ``yes`` ...); missing means available
``created_at``  when the item went on sale (UTC, like event times)

Any other column is kept as an extra attribute (``attributes``, one JSON object per item).
A column map (``--map name=Description``, ``--map "category=sql:lower(Dept)"``) names the file's
column for each of these, with the same checked SQL subset as events (``pipeline.data.mapping``).

Versions: every loaded file is a catalog *load* (``catalog_files``, numbered ``load_id``) and
its good rows are appended to ``catalog_items`` under that number; an item's current entry is
its row of the latest load that has it (``CURRENT``), so the catalog as of any load can be read
back. Loading the same bytes again does nothing (path and checksum, like events); a changed file
at the same path is a new load (a catalog export changes every day, unlike an event log). Bad rows
go to the warehouse's ``quarantine`` with the first rule they break; a file with more than
``max_bad_fraction`` bad rows fails, and one call is one transaction.

Items that appear in events but not in the catalog are reported (``CatalogReport.not_in_catalog``),
never dropped: the model learns them all the same.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

import contract
from pipeline.data.ingest import check_bad_fraction, describe, first_line, quarantine_reasons, reader_sql
from pipeline.data.mapping import checked_column_map
from pipeline.data.sources import SourceFile, discover, staged_name
from pipeline.data.staging import MAX_PRICE, column_sql, id_rule_sql, id_text_sql, id_types, quote, ts_sql
from pipeline.data.warehouse import one_row
from pipeline.errors import IngestError

CATALOG_COLUMNS = ("item_id", "name", "category", "price", "available", "created_at")
MAX_NAME_LENGTH = 1000
UNKNOWN_SAMPLE = 20  # item ids named in a report of items missing from the catalog
ROW = "_recs_row"

SCHEMA = """
CREATE TABLE IF NOT EXISTS catalog_files (
    path        VARCHAR NOT NULL,
    load_id     INTEGER PRIMARY KEY,
    size_bytes  BIGINT NOT NULL,
    checksum    VARCHAR NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_quarantined BIGINT NOT NULL,
    loaded_at   TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS catalog_items (
    item_id     VARCHAR NOT NULL,
    name        VARCHAR,
    category    VARCHAR,
    price       DOUBLE,
    available   BOOLEAN NOT NULL,
    created_at  TIMESTAMP,
    attributes  VARCHAR,            -- the file's other columns, one JSON object
    load_id     INTEGER NOT NULL,   -- the catalog_files row it came from
    source_row  BIGINT NOT NULL
);
"""

# every item's entry in the latest load that has it (the last row of that load, if it repeats)
CURRENT = """
SELECT * EXCLUDE (rank) FROM (
    SELECT *, row_number() OVER (PARTITION BY item_id ORDER BY load_id DESC, source_row DESC) AS rank
    FROM catalog_items
) WHERE rank = 1
"""


@dataclass(frozen=True)
class CatalogItem:
    """An item's current catalog entry."""

    item_id: str
    name: str | None
    category: str | None
    price: float | None
    available: bool
    created_at: object | None  # a naive UTC datetime


@dataclass
class CatalogReport:
    files_loaded: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)
    rows_loaded: int = 0
    rows_quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    items: int = 0  # items in the current catalog
    unavailable: int = 0  # of which marked unavailable
    not_in_catalog: int = 0  # items of the events the catalog does not have
    not_in_catalog_sample: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SCHEMA)


def has_catalog(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse holds a catalog table (a read-only connection cannot make one)."""
    sql = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'catalog_items'"
    return bool(one_row(con, sql)[0])


# ---------------------------------------------------------------- one file


def catalog_sql(flat: str, available: Sequence[str], column_map: dict[str, str], id_type: str) -> str:
    """The file's rows as catalog columns, plus the first rule each row breaks (``reason``)."""
    col = {c: column_sql(c, column_map.get(c), available) for c in CATALOG_COLUMNS}
    used = {column_map.get(c, c) for c in CATALOG_COLUMNS}
    extra = [c for c in available if c not in used and c != ROW]
    attributes = (
        "to_json(struct_pack(" + ", ".join(f"{quote(c)} := {quote(c)}" for c in extra) + "))::VARCHAR"
        if extra
        else "NULL"
    )
    return f"""
        SELECT *,
            CASE
                WHEN item_id IS NULL OR trim(item_id) = '' THEN 'missing item_id'
                {id_rule_sql("item_id")}
                WHEN length(name) > {MAX_NAME_LENGTH} THEN 'name over {MAX_NAME_LENGTH} characters'
                WHEN category IS NOT NULL AND (category = '' OR length(category) > 256
                     OR list_contains(string_split(category, '/'), '')
                     OR NOT regexp_full_match(category, '{_id_pattern()}'))
                    THEN 'category breaks the id rule (parts joined by /)'
                WHEN price_text IS NOT NULL AND price IS NULL THEN 'unparseable price'
                WHEN price < 0 OR price > {MAX_PRICE} THEN 'absurd price'
                WHEN available_text IS NOT NULL AND available IS NULL THEN 'unparseable available'
                WHEN created_text IS NOT NULL AND created_at IS NULL THEN 'unparseable created_at'
            END AS reason
        FROM (
            SELECT
                {id_text_sql(col["item_id"], id_type)} AS item_id,
                TRY_CAST({col["name"]} AS VARCHAR) AS name,
                trim(TRY_CAST({col["category"]} AS VARCHAR), ' /') AS category,
                nullif(trim(TRY_CAST({col["price"]} AS VARCHAR)), '') AS price_text,
                TRY_CAST(price_text AS DOUBLE) AS price,
                nullif(lower(trim(TRY_CAST({col["available"]} AS VARCHAR))), '') AS available_text,
                CASE WHEN available_text IN ('yes', 'y', 'in stock') THEN true
                     WHEN available_text IN ('no', 'n', 'out of stock', 'sold out') THEN false
                     ELSE TRY_CAST(available_text AS BOOLEAN) END AS available,
                nullif(trim(TRY_CAST({col["created_at"]} AS VARCHAR)), '') AS created_text,
                {ts_sql(col["created_at"])} AS created_at,
                {attributes} AS attributes,
                {ROW}
            FROM ({flat})
        )
    """


def _id_pattern() -> str:
    return contract.ID_PATTERN.replace("'", "''")


def flat_rows(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> tuple[str, dict[str, str]]:
    """A SELECT of the file's rows with their 1-based row number, and its columns (name -> SQL type)."""
    reader = reader_sql([path])
    if path.suffix.lower() == ".parquet":
        flat = f"SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS {ROW} FROM {reader}"
    else:
        flat = f"SELECT *, row_number() OVER () AS {ROW} FROM {reader}"
    columns = {c: kind for c, kind in describe(con, flat, name).items() if c != ROW}
    return flat, columns


def load_file(
    con: duckdb.DuckDBPyConnection,
    source: SourceFile,
    path: Path,
    load_id: int,
    column_map: dict[str, str],
    max_bad_fraction: float,
) -> tuple[int, int]:
    """Append one file's good rows under ``load_id`` and quarantine its bad ones: (good, bad)."""
    flat, columns = flat_rows(con, path, source.name)
    item_source = column_map.get("item_id", "item_id")
    if not item_source.startswith("sql:") and item_source not in columns:
        raise IngestError(
            f"{source.name}: missing required column {item_source} (found: {', '.join(columns)[:300]})"
        )
    id_type = id_types(con, flat, columns, column_map)["item_id"]
    staged = f"({catalog_sql(flat, list(columns), column_map, id_type)})"
    try:
        good, bad = one_row(con, f"SELECT count(*) FILTER (reason IS NULL), count(reason) FROM {staged}")
        con.execute(
            f"""INSERT INTO catalog_items
                SELECT item_id, name, category, price, coalesce(available, true), created_at, attributes,
                       {load_id}, {ROW}
                FROM {staged} WHERE reason IS NULL"""
        )
        con.execute(
            f"""INSERT INTO quarantine
                SELECT ?, {ROW}, 'catalog: ' || reason,
                       to_json(struct_pack(item_id, name, category, price := price_text,
                                           available := available_text, created_at := created_text)),
                       now()
                FROM {staged} WHERE reason IS NOT NULL""",
            [source.name],
        )
    except duckdb.Error as err:
        raise IngestError(f"{source.name}: unreadable as a catalog: {first_line(err)}") from None
    check_bad_fraction(con, source.name, good, bad, max_bad_fraction)
    return good, bad


# ---------------------------------------------------------------- the stage


def load_catalog(
    con: duckdb.DuckDBPyConnection,
    sources: Iterable[Path | str],
    column_map: dict[str, str] | None = None,
    max_bad_fraction: float = 0.05,
    s3_client: Callable[[], object] | None = None,
) -> CatalogReport:
    """Load every catalog file of ``sources`` not loaded before with the same bytes; one transaction."""
    unknown = set(column_map or {}) - set(CATALOG_COLUMNS)
    if unknown:
        raise IngestError(f"catalog column map keys must be {CATALOG_COLUMNS}, got {sorted(unknown)}")
    ensure_schema(con)
    column_map = checked_column_map(con, column_map or {})
    files = discover(sources, s3_client)
    report = CatalogReport()
    con.begin()
    try:
        with tempfile.TemporaryDirectory(prefix="recs-catalog-") as tmp:
            for n, source in enumerate(files):
                if _loaded_before(con, source):
                    report.files_skipped.append(source.name)
                    continue
                load_id = one_row(con, "SELECT coalesce(max(load_id), 0) + 1 FROM catalog_files")[0]
                good, bad = load_file(
                    con, source, source.fetch(Path(tmp) / staged_name(n, source.name)), load_id,
                    column_map, max_bad_fraction,
                )  # fmt: skip
                con.execute(
                    "INSERT INTO catalog_files VALUES (?, ?, ?, ?, ?, ?, now())",
                    [source.name, load_id, source.size, source.checksum(), good, bad],
                )
                report.files_loaded.append(source.name)
                report.rows_loaded += good
                report.rows_quarantined += bad
        report.quarantine_reasons = quarantine_reasons(con, report.files_loaded)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return describe_catalog(con, report)


def _loaded_before(con: duckdb.DuckDBPyConnection, source: SourceFile) -> bool:
    """The file's latest load had these exact bytes."""
    row = con.execute(
        "SELECT size_bytes, checksum FROM catalog_files WHERE path = ? ORDER BY load_id DESC LIMIT 1",
        [source.name],
    ).fetchone()
    return row is not None and row[0] == source.size and row[1] == source.checksum()


def describe_catalog(con: duckdb.DuckDBPyConnection, report: CatalogReport | None = None) -> CatalogReport:
    """``report`` (or a new one) with the current catalog's size and the event items it lacks."""
    report = report or CatalogReport()
    if not has_catalog(con):
        return report
    report.items, report.unavailable = one_row(
        con, f"SELECT count(*), count(*) FILTER (NOT available) FROM ({CURRENT})"
    )
    missing = "SELECT item_id FROM item_ids WHERE item_id NOT IN (SELECT item_id FROM catalog_items)"
    report.not_in_catalog = one_row(con, f"SELECT count(*) FROM ({missing})")[0]
    report.not_in_catalog_sample = [
        r[0] for r in con.execute(f"{missing} ORDER BY item_id LIMIT {UNKNOWN_SAMPLE}").fetchall()
    ]
    return report


def current_items(con: duckdb.DuckDBPyConnection) -> list[CatalogItem]:
    """Every item's current entry, by item id (none when no catalog was ever loaded)."""
    if not has_catalog(con):
        return []
    rows = con.execute(
        f"SELECT item_id, name, category, price, available, created_at FROM ({CURRENT}) ORDER BY item_id"
    ).fetchall()
    return [CatalogItem(*row) for row in rows]
