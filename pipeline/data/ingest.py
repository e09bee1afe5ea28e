"""Ingest: append event files to the warehouse's ``raw_events``, as they came.

Which files a call names (local paths, globs, ``s3://`` URIs) is ``pipeline.sources``'
job; S3 objects are downloaded to a temporary directory, then loaded like local files.

All Parquet files of a call are read by one ``read_parquet`` scan (DuckDB spreads it
over the cores; ``file_index`` tells the files apart); other files load one by one.

One call is one transaction: good rows go to ``raw_events``, rows that break a
rule go to ``quarantine`` (file, row, reason, the row as JSON), each file gets a
``manifest`` row, and new users and items get stable indices. If any file fails
(unreadable, missing a required column, too many bad rows), the error names it
and the warehouse is left exactly as it was.

Column mapping: ``column_map`` names, for an event column (``user_id``,
``item_id``, ``event_type``, ``ts``, ``quantity``, ``price``, ``country``, ``rec_id``), the
file's column to read it from (``{"user_id": "CustomerID"}``), or, with a ``sql:``
prefix, a DuckDB SQL expression over the file's columns (``{"event_type": "sql:CASE
WHEN InvoiceNo LIKE 'C%' THEN 'return' ELSE 'purchase' END"}``, ``{"event_type":
"sql:'purchase'"}``, ``{"ts": "sql:epoch_ms(t)"}``). CSV columns are read as text. An
expression may only compute from the row's columns (``pipeline.data.mapping``: no subquery,
no table function, no ``getenv``).

Shapes: besides flat event rows, nested session JSON lines
(``{"session": 1, "events": [{"aid": 7, "ts": epoch_ms, "type": "clicks"}]}``, the
OTTO dataset's shape) are unnested, with ``session`` → user_id, ``aid`` → item_id,
``ts`` (epoch ms) → ts and clicks/carts/orders → view/cart/purchase.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipeline.data.changed import Loaded, OnChangedFile, grew_by_appending, loaded_entry, refuse_change
from pipeline.data.mapping import SQL_PREFIX, checked_column_map
from pipeline.data.sources import READERS, SourceFile, discover, staged_name
from pipeline.data.staging import FILE, ROW, LogShape, check_columns, id_types, staging_sql
from pipeline.data.warehouse import extend_id_maps, one_row
from pipeline.errors import IngestError

PLAIN = LogShape()  # a log without an event type column is all "interaction"; numeric times by magnitude

# nested session JSON lines (OTTO): one row per session, its events in a list
SESSION_COLUMNS = {"session", "events"}
SESSION_EVENTS = """
    SELECT session, e.aid AS aid, e.ts AS ts, e."type" AS "type", _recs_row, {first_id} AS _recs_file
    FROM (SELECT session, unnest(events) AS e, row_number() OVER () AS _recs_row FROM {reader})
"""
SESSION_COLUMN_MAP = {
    "user_id": "session",
    "item_id": "aid",
    "ts": "sql:epoch_ms(ts::BIGINT)",
    "event_type": "sql:CASE \"type\" WHEN 'clicks' THEN 'view' WHEN 'carts' THEN 'cart' "
    "WHEN 'orders' THEN 'purchase' ELSE \"type\" END",
}


@dataclass
class IngestReport:
    files_loaded: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)  # grown files whose added rows loaded
    rows_loaded: int = 0
    rows_quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    new_users: int = 0
    new_items: int = 0

    def as_dict(self) -> dict:
        return {
            "files_loaded": len(self.files_loaded),
            "files_skipped": len(self.files_skipped),
            "files_changed": self.files_changed,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "quarantine_reasons": self.quarantine_reasons,
            "new_users": self.new_users,
            "new_items": self.new_items,
        }


# ---------------------------------------------------------------- reading one file


def first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0]


def reader_sql(paths: Sequence[Path]) -> str:
    listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    return READERS[paths[0].suffix.lower()].format(paths=f"[{listed}]")


def describe(con: duckdb.DuckDBPyConnection, sql: str, name: str) -> dict[str, str]:
    try:
        return {row[0]: row[1] for row in con.execute(f"DESCRIBE {sql}").fetchall()}
    except duckdb.Error as err:
        raise IngestError(f"{name}: unreadable: {first_line(err)}") from None


@dataclass(frozen=True)
class Batch:
    """Files appended by one INSERT: every Parquet file of a call together, other files one by one.

    Their file ids run from ``first_id`` in order.
    """

    names: list[str]
    paths: list[Path]
    first_id: int
    after_row: int = 0  # a grown file (pipeline.data.changed): only its rows after this one are new

    @property
    def parquet(self) -> bool:
        return self.paths[0].suffix.lower() == ".parquet"

    @property
    def label(self) -> str:
        return self.names[0] if len(self.names) == 1 else f"one of {', '.join(self.names)}"


def flat_source(con: duckdb.DuckDBPyConnection, batch: Batch) -> tuple[str, dict[str, str]]:
    """A SELECT giving the batch as flat rows with ROW and FILE, and the shape's default column map."""
    reader = reader_sql(batch.paths)
    if batch.parquet:
        return (
            f"SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS {ROW}, "
            f"{batch.first_id} + file_index AS {FILE} FROM {reader}",
            {},
        )
    columns = describe(con, f"SELECT * FROM {reader}", batch.label)
    if set(columns) >= SESSION_COLUMNS and columns["events"].startswith("STRUCT("):
        flat, shape = SESSION_EVENTS.format(reader=reader, first_id=batch.first_id), SESSION_COLUMN_MAP
    else:
        flat, shape = f"SELECT *, row_number() OVER () AS {ROW}, {batch.first_id} AS {FILE} FROM {reader}", {}
    return (f"SELECT * FROM ({flat}) WHERE {ROW} > {batch.after_row}" if batch.after_row else flat), shape


def parquet_rows(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """The row count a Parquet file's footer states."""
    try:
        return int(one_row(con, "SELECT sum(num_rows) FROM parquet_file_metadata(?)", [str(path)])[0] or 0)
    except duckdb.Error as err:
        raise IngestError(f"{path}: unreadable: {first_line(err)}") from None


def check_batch(
    con: duckdb.DuckDBPyConnection, batch: Batch, column_map: dict[str, str], log_shape: LogShape = PLAIN
) -> tuple[str, dict[str, str], dict[str, str]]:
    """The batch's flat SELECT, its columns (name -> SQL type) and column map, once each file has
    the required columns."""
    flat, shape_map = flat_source(con, batch)
    column_map = shape_map | column_map
    if batch.parquet:  # checked file by file, so that the error names the file
        for name, path in zip(batch.names, batch.paths, strict=True):
            columns = describe(con, f"SELECT * FROM {reader_sql([path])}", name)
            check_columns(name, [c for c in columns if c != "file_row_number"], column_map, log_shape)
    described = describe(con, flat, batch.label)
    available = {c: kind for c, kind in described.items() if c not in (ROW, FILE)}
    try:
        check_columns(batch.label, list(available), column_map, log_shape)
    except IngestError:
        if batch.paths[0].suffix.lower() == ".csv":  # DuckDB's sniffer, thrown by a ragged line,
            check_csv_shape(batch.names[0], batch.paths[0])  # takes the wrong row for the header
        raise
    return flat, available, log_shape.completed(column_map, list(available))


def check_csv_shape(name: str, path: Path) -> None:
    """``IngestError`` naming the first line whose field count differs from the header's, if any."""
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        rows = csv.reader(f)
        header = next(rows, [])
        for row in rows:
            if row and len(row) != len(header):
                raise IngestError(
                    f"{name}: line {rows.line_num} has {len(row)} fields, the header has {len(header)} "
                    f"({', '.join(header)[:200]})"
                )


def load_batch(
    con: duckdb.DuckDBPyConnection,
    batch: Batch,
    column_map: dict[str, str],
    known_event_types: Sequence[str],
    max_bad_fraction: float,
    log_shape: LogShape = PLAIN,
) -> list[tuple[int, int]]:
    """Append the batch's good rows, quarantine its bad ones; (loaded, quarantined) for each file.

    Runs inside the caller's transaction: an error leaves nothing of the batch behind.
    """
    flat, available, column_map = check_batch(con, batch, column_map, log_shape)
    types = id_types(con, flat, available, column_map)
    staged = f"({staging_sql(flat, list(available), column_map, known_event_types, types, log_shape)})"
    try:
        con.execute(f"DESCRIBE SELECT * FROM {staged}")
    except duckdb.Error as err:
        mapped = {k: v for k, v in column_map.items() if v.startswith(SQL_PREFIX)}
        raise IngestError(
            f"{batch.label}: the column map {mapped} does not apply: {first_line(err)}"
        ) from None
    footer = [parquet_rows(con, p) for p in batch.paths] if batch.parquet else None
    try:
        # Parquet rows carry their own row numbers, so their order need not be kept (a faster load)
        con.execute(f"SET preserve_insertion_order = {not batch.parquet}")
        good = one_row(
            con,
            f"""INSERT INTO raw_events
                    (user_id, item_id, event_type, ts, quantity, price, country, file_id, source_row,
                     weight, rec_id)
                SELECT user_id, item_id, event_type, ts, quantity, price, country, {FILE}, {ROW},
                       weight, rec_id
                FROM {staged} WHERE reason IS NULL""",
        )[0]
        if footer is None or sum(footer) != good:  # footers spare this pass when every row is good
            con.execute(
                f"""INSERT INTO quarantine
                    SELECT $names[({FILE} - {batch.first_id} + 1)::BIGINT], {ROW}, reason,
                           to_json(struct_pack(user_id, item_id, event_type, ts := ts_text, quantity,
                                               price, country, weight := weight_text, rec_id)),
                           now()
                    FROM {staged} WHERE reason IS NOT NULL""",
                {"names": batch.names},
            )
    except duckdb.Error as err:
        raise IngestError(f"{batch.label}: unreadable: {first_line(err)}") from None
    con.execute("RESET preserve_insertion_order")
    bad = quarantined_by_file(con, batch.names, batch.after_row)
    totals = footer or [good + bad.get(batch.names[0], 0)]
    counts = [
        (total - bad.get(name, 0), bad.get(name, 0)) for name, total in zip(batch.names, totals, strict=True)
    ]
    for name, (good_rows, bad_rows) in zip(batch.names, counts, strict=True):
        check_bad_fraction(con, name, good_rows, bad_rows, max_bad_fraction)
    return counts


def quarantined_by_file(
    con: duckdb.DuckDBPyConnection, names: list[str], after_row: int = 0
) -> dict[str, int]:
    sql = (
        "SELECT source_file, count(*) FROM quarantine WHERE source_file IN (SELECT unnest(?)) "
        "AND source_row > ? GROUP BY 1"
    )
    return dict(con.execute(sql, [names, after_row]).fetchall())


def check_bad_fraction(
    con: duckdb.DuckDBPyConnection, name: str, good: int, bad: int, max_bad_fraction: float
) -> None:
    if good + bad == 0:
        raise IngestError(f"{name}: file holds no rows")
    if bad / (good + bad) <= max_bad_fraction:
        return
    reasons = con.execute(
        "SELECT reason, count(*) FROM quarantine WHERE source_file = ? GROUP BY 1 ORDER BY 2 DESC, 1",
        [name],
    ).fetchall()
    summary = ", ".join(f"{n} {r}" for r, n in reasons)
    raise IngestError(
        f"{name}: {bad} of {good + bad} rows are bad ({bad / (good + bad):.1%}), over the "
        f"max_bad_fraction of {max_bad_fraction:.1%}: {summary}"
    )


# ---------------------------------------------------------------- the stage


def already_loaded(con: duckdb.DuckDBPyConnection, source: SourceFile) -> str | None:
    """'skipped' for a file loaded before unchanged, 'changed' for one changed since, else None."""
    seen = con.execute("SELECT size_bytes, checksum FROM manifest WHERE path = ?", [source.name]).fetchone()
    if seen is None:
        return None
    size, checksum = seen
    return "skipped" if size == source.size and checksum == source.checksum() else "changed"


def ingest(
    con: duckdb.DuckDBPyConnection,
    sources: Iterable[Path | str],
    column_map: dict[str, str] | None = None,
    known_event_types: Sequence[str] = ("view", "cart", "purchase", "return"),
    max_bad_fraction: float = 0.05,
    s3_client: Callable[[], object] | None = None,
    on_changed_file: OnChangedFile = "fail",
    optional_sources: Collection[str] = (),
    log_shape: LogShape = PLAIN,
) -> IngestReport:
    """Append every new file under ``sources`` to ``raw_events``; skip files already loaded.

    All files of one call load in one transaction: if any file fails, the error
    names it and the warehouse is left exactly as it was. ``s3_client`` makes the
    boto3 S3 client when a source is on S3 (default: ``boto3.client("s3")``). A file loaded
    before that changed fails the call, or has its added rows loaded (``pipeline.data.changed``).
    ``optional_sources`` may name no files (a scheduled day's folder that is missing or empty).
    ``log_shape``: the event type of a file without that column, and how a numeric time is read.
    """
    report = IngestReport()
    column_map = checked_column_map(con, column_map or {})  # before any file is read
    files = discover(sources, s3_client, optional_sources)
    con.begin()
    try:
        first_id = one_row(con, "SELECT coalesce(max(file_id), 0) + 1 FROM manifest")[0]
        new, grown = [], []
        for source in files:
            state = already_loaded(con, source)
            if state is None:
                new.append(source)
            elif state == "skipped":
                report.files_skipped.append(source.name)
            else:
                grown.append(appended_rows(con, source, on_changed_file))
        with tempfile.TemporaryDirectory(prefix="recs-ingest-") as tmp:
            local = [s.fetch(Path(tmp) / staged_name(n, s.name)) for n, s in enumerate(new)]
            for batch in batches(new, local, first_id):
                counts = load_batch(
                    con, batch, column_map or {}, known_event_types, max_bad_fraction, log_shape
                )
                record_files(con, report, batch, [f for f in new if f.name in batch.names], counts)
            for n, (source, seen) in enumerate(grown, len(new)):
                load_appended(con, report, source, seen, Path(tmp) / staged_name(n, source.name),
                              (column_map, known_event_types, max_bad_fraction, log_shape))  # fmt: skip
        if new or grown:
            since = min([first_id] + [seen.file_id for _, seen in grown])
            report.new_users, report.new_items = extend_id_maps(con, since)
        report.quarantine_reasons = quarantine_reasons(con, report.files_loaded)
        con.commit()
    except BaseException:
        con.rollback()
        con.execute("RESET preserve_insertion_order")
        raise
    return report


def appended_rows(con: duckdb.DuckDBPyConnection, source: SourceFile, on_changed_file: OnChangedFile):
    """(source, its manifest entry) for a changed file whose added rows may load; else the error."""
    seen = loaded_entry(con, source.name)
    assert seen is not None  # already_loaded found it
    if on_changed_file == "append" and grew_by_appending(source, seen):
        return source, seen
    raise refuse_change(source, seen, on_changed_file)


def load_appended(
    con: duckdb.DuckDBPyConnection, report: IngestReport, source: SourceFile, seen: Loaded, target: Path,
    rules: tuple,
) -> None:  # fmt: skip
    """Load the rows of a grown file after the last one read before, and bring its manifest row up to date."""
    column_map, known_event_types, max_bad_fraction, log_shape = rules
    batch = Batch([source.name], [source.fetch(target)], seen.file_id, after_row=seen.last_row)
    ((good, bad),) = load_batch(con, batch, column_map or {}, known_event_types, max_bad_fraction, log_shape)
    con.execute(
        "UPDATE manifest SET size_bytes = ?, checksum = ?, rows_loaded = rows_loaded + ?, "
        "rows_quarantined = rows_quarantined + ?, loaded_at = now() WHERE path = ?",
        [source.size, source.checksum(), good, bad, source.name],
    )
    report.files_changed.append(source.name)
    report.rows_loaded += good
    report.rows_quarantined += bad


def batches(sources: list[SourceFile], local: list[Path], first_id: int) -> list[Batch]:
    """All Parquet files in one batch (one parallel scan), each other file in its own."""
    parquet = [(s.name, p) for s, p in zip(sources, local, strict=True) if p.suffix.lower() == ".parquet"]
    others = [(s.name, p) for s, p in zip(sources, local, strict=True) if p.suffix.lower() != ".parquet"]
    groups = ([parquet] if parquet else []) + [[one] for one in others]
    found, next_id = [], first_id
    for group in groups:
        found.append(Batch([n for n, _ in group], [p for _, p in group], next_id))
        next_id += len(group)
    return found


def record_files(
    con: duckdb.DuckDBPyConnection,
    report: IngestReport,
    batch: Batch,
    sources: list[SourceFile],
    counts: list[tuple[int, int]],
) -> None:
    """Manifest rows (and report lines) for the files of a loaded batch."""
    by_name = {s.name: s for s in sources}
    for offset, (name, (good, bad)) in enumerate(zip(batch.names, counts, strict=True)):
        source = by_name[name]
        con.execute(
            "INSERT INTO manifest VALUES (?, ?, ?, ?, ?, ?, now())",
            [name, batch.first_id + offset, source.size, source.checksum(), good, bad],
        )
        report.files_loaded.append(name)
        report.rows_loaded += good
        report.rows_quarantined += bad


def quarantine_reasons(con: duckdb.DuckDBPyConnection, files: list[str]) -> dict[str, int]:
    if not files:
        return {}
    rows = con.execute(
        "SELECT reason, count(*) FROM quarantine WHERE source_file IN (SELECT unnest(?)) "
        "GROUP BY 1 ORDER BY 2 DESC, 1",
        [files],
    ).fetchall()
    return dict(rows)


def parse_column_map(pairs: Iterable[str]) -> dict[str, str]:
    """``["user_id=CustomerID", "event_type=sql:'purchase'"]`` as a column map."""
    column_map = {}
    for pair in pairs:
        column, sep, source = pair.partition("=")
        if not sep or not column.strip() or not source.strip():
            raise IngestError(f"--map {pair!r}: expected COLUMN=SOURCE, e.g. user_id=CustomerID")
        column_map[column.strip()] = source.strip()
    return column_map
