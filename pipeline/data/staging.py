"""Staging: the SQL that reads one batch of a file into the event columns, with the first rule each
row breaks.

``pipeline.data.ingest`` decides which files and rows a call loads; this module says how a row of
any shape becomes an event: each event column from a file column, an SQL expression of the column
map (checked by ``pipeline.data.mapping``) or NULL; ids as one string per value whatever the file's
type; times as UTC; and the reason for quarantine, when there is one, as a CASE over those columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

import contract
from pipeline.data.mapping import SQL_PREFIX
from pipeline.data.warehouse import one_row
from pipeline.errors import IngestError
from pipeline.settings import REQUIRED_COLUMNS

OPTIONAL_COLUMNS = ("quantity", "price", "country", "rec_id")
EVENT_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
ROW, FILE = "_recs_row", "_recs_file"  # internal columns: the row in its file (1-based), the file id
MAX_ABS_QUANTITY = 1e6
MAX_PRICE = 1e7
EARLIEST_TS = "1990-01-01"  # events before this, or over a day in the future, are "ts out of range"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def column_sql(name: str, source: str | None, available: Sequence[str]) -> str:
    """The SQL that reads event column ``name``: a mapped expression, a column, or NULL."""
    if source is not None and source.startswith(SQL_PREFIX):
        return f"({source[len(SQL_PREFIX) :]})"
    source = source or name
    return quote(source) if source in available else "NULL"


def staging_sql(
    flat: str, available: Sequence[str], column_map: dict[str, str], known_event_types: Sequence[str],
    types: dict[str, str] | None = None,
) -> str:  # fmt: skip
    """One pass over the files: normalised columns plus the first rule each row breaks.

    ``types`` are the SQL types of the id columns' expressions (``id_types``), which decide how
    a number becomes an id string.
    """
    col = {c: column_sql(c, column_map.get(c), available) for c in EVENT_COLUMNS}
    ids = {c: id_text_sql(col[c], (types or {}).get(c, "VARCHAR")) for c in ("user_id", "item_id")}
    known = ", ".join("'" + t.replace("'", "''") + "'" for t in known_event_types)
    return f"""
        SELECT *,
            CASE
                WHEN user_id IS NULL OR trim(user_id) = '' THEN 'missing user_id'
                WHEN item_id IS NULL OR trim(item_id) = '' THEN 'missing item_id'
                {id_rule_sql("user_id")}
                {id_rule_sql("item_id")}
                WHEN ts IS NULL THEN 'missing or unparseable ts'
                WHEN ts < TIMESTAMP '{EARLIEST_TS}' OR ts > now()::TIMESTAMP + INTERVAL 1 DAY
                    THEN 'ts out of range'
                WHEN event_type IS NULL OR event_type NOT IN ({known}) THEN 'unknown event_type'
                WHEN abs(quantity) > {MAX_ABS_QUANTITY} THEN 'absurd quantity'
                WHEN price < 0 OR price > {MAX_PRICE} THEN 'absurd price'
            END AS reason
        FROM (
            SELECT
                {ids["user_id"]} AS user_id,
                {ids["item_id"]} AS item_id,
                lower(trim(TRY_CAST({col["event_type"]} AS VARCHAR), ' \t\r\n')) AS event_type,
                {ts_sql(col["ts"])} AS ts,
                TRY_CAST({col["ts"]} AS VARCHAR) AS ts_text,
                TRY_CAST({col["quantity"]} AS DOUBLE) AS quantity,
                TRY_CAST({col["price"]} AS DOUBLE) AS price,
                TRY_CAST({col["country"]} AS VARCHAR) AS country,
                nullif(trim(TRY_CAST({col["rec_id"]} AS VARCHAR), ' \t\r\n'), '') AS rec_id,
                {ROW}, {FILE}
            FROM ({flat})
        )
    """


def id_text_sql(expr: str, sql_type: str) -> str:
    """SQL giving an id column as text, one string per id whatever the file's type for it.

    A whole number is written without a fraction however it was stored (int64 ``777``, float
    ``777.0``, JSON ``777`` or ``777.0`` all give ``"777"``): pandas writes an integer id column
    with a missing value as floats, and DuckDB widens int to float when it reads such files
    together. A JSON string is its text, without the quotes a mixed number/string column keeps.
    """

    def whole(x: str) -> str:
        return (
            f"CASE WHEN {x} = trunc({x}) AND abs({x}) < 9007199254740992 "  # 2**53: exact as a float
            f"THEN CAST(CAST({x} AS BIGINT) AS VARCHAR) ELSE CAST({x} AS VARCHAR) END"
        )

    kind = sql_type.upper()
    if kind in ("FLOAT", "DOUBLE", "REAL") or kind.startswith("DECIMAL"):
        return whole(expr)
    if kind == "JSON":
        return (
            f"CASE json_type({expr}) WHEN 'VARCHAR' THEN json_extract_string({expr}, '$') "
            f"WHEN 'DOUBLE' THEN {whole(f'CAST({expr} AS DOUBLE)')} ELSE CAST({expr} AS VARCHAR) END"
        )
    return f"TRY_CAST({expr} AS VARCHAR)"


def id_rule_sql(column: str) -> str:
    """CASE branches quarantining an id the id rule (``contract.id_problem``) refuses, with the reason."""
    return (
        f"WHEN length({column}) > {contract.MAX_ID_LENGTH} "
        f"THEN '{column} over {contract.MAX_ID_LENGTH} characters (the id rule)' "
        f"WHEN NOT regexp_full_match({column}, '{contract.ID_PATTERN.replace(chr(39), chr(39) * 2)}') "
        f"THEN '{column} breaks the id rule: {contract.ID_CHARACTERS}'"
    )


def ts_sql(expr: str) -> str:
    """SQL giving an event time as a UTC timestamp: an offset (``+05:00``, ``Z``) or a zone-aware
    column is converted to UTC, a time without one is taken as UTC (the connection's zone,
    ``warehouse.connect``)."""
    return f"TRY_CAST(TRY_CAST({expr} AS TIMESTAMPTZ) AS TIMESTAMP)"


def id_types(
    con: duckdb.DuckDBPyConnection, flat: str, available: dict[str, str], column_map: dict[str, str]
) -> dict[str, str]:
    """The SQL types of the user and item id expressions over the batch's flat rows."""
    found = {}
    for column in ("user_id", "item_id"):
        source = column_map.get(column) or column
        if not source.startswith(SQL_PREFIX):
            found[column] = available.get(source, "VARCHAR")
            continue
        expr = column_sql(column, source, list(available))
        try:
            found[column] = one_row(con, f"SELECT typeof({expr}) FROM ({flat}) LIMIT 1")[0]
        except (duckdb.Error, RuntimeError):
            found[column] = "VARCHAR"  # an empty file or a bad map: the load names the problem
    return found


def check_columns(name: str, available: Sequence[str], column_map: dict[str, str]) -> None:
    """Every required event column must come from a column of the file or an SQL expression."""
    missing = [
        column_map.get(c, c)
        for c in REQUIRED_COLUMNS
        if not column_map.get(c, c).startswith(SQL_PREFIX) and column_map.get(c, c) not in available
    ]
    if missing:
        raise IngestError(
            f"{name}: missing required column(s) {', '.join(missing)} (found: {', '.join(available)})"
        )
