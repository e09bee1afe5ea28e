"""Staging: the SQL that reads one batch of a file into the event columns, with the first rule each
row breaks.

``pipeline.data.ingest`` decides which files and rows a call loads; this module says how a row of
any shape becomes an event: each event column from a file column, an SQL expression of the column
map (checked by ``pipeline.data.mapping``) or NULL; ids as one string per value whatever the file's
type; times as UTC; and the reason for quarantine, when there is one, as a CASE over those columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import duckdb

import contract
from pipeline.data.mapping import SQL_PREFIX
from pipeline.data.warehouse import one_row
from pipeline.errors import IngestError
from pipeline.settings import REQUIRED_COLUMNS, PipelineSettings

OPTIONAL_COLUMNS = ("event_type", "quantity", "price", "country", "weight", "rec_id")
EVENT_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
ROW, FILE = "_recs_row", "_recs_file"  # internal columns: the row in its file (1-based), the file id
MAX_ABS_QUANTITY = 1e6
MAX_PRICE = 1e7
MAX_WEIGHT = 1e6
EARLIEST_TS = "1990-01-01"  # events before this, or over a day in the future, are "ts out of range"


MS_FROM = 1e11  # an epoch number at or above this is milliseconds (``epoch_sql``)
MAX_EPOCH_SECONDS = 1e11
NUMERIC_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL"}  # fmt: skip
# a file column read for an event column when the file has none of that name and the map names none
ALIASES = {"ts": ("timestamp",), "weight": ("rating",)}
TsUnit = Literal["auto", "s", "ms"]


@dataclass(frozen=True)
class LogShape:
    """How a log with fewer columns is read: a file without an event type column is all events of
    ``event_type``; a numeric time is epoch seconds or milliseconds (``ts_unit``, ``auto``: by
    magnitude)."""

    event_type: str = "interaction"
    ts_unit: TsUnit = "auto"

    @classmethod
    def from_settings(cls, settings: PipelineSettings) -> LogShape:
        return cls(settings.default_event_type, settings.ts_unit)

    def completed(self, column_map: dict[str, str], available: Sequence[str]) -> dict[str, str]:
        """``column_map`` with the event type constant when the file has no such column, and the
        aliases (``timestamp``, ``rating``) of columns the file lacks."""
        found = dict(column_map)
        for column, aliases in ALIASES.items():
            if column not in found and column not in available:
                found.update((column, a) for a in reversed(aliases) if a in available)
        if "event_type" not in found and "event_type" not in available:
            found["event_type"] = SQL_PREFIX + "'" + self.event_type.replace("'", "''") + "'"
        return found


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
    types: dict[str, str] | None = None, log_shape: LogShape | None = None,
) -> str:  # fmt: skip
    """One pass over the files: normalised columns plus the first rule each row breaks.

    ``types`` are the SQL types of the id and time columns' expressions (``id_types``), which
    decide how a number becomes an id string or a time. ``log_shape`` says what a file without
    an event type column holds and how a numeric time is read.
    """
    log_shape = log_shape or LogShape()
    column_map = log_shape.completed(column_map, available)
    col = {c: column_sql(c, column_map.get(c), available) for c in EVENT_COLUMNS}
    ids = {c: id_text_sql(col[c], (types or {}).get(c, "VARCHAR")) for c in ("user_id", "item_id")}
    known = ", ".join("'" + t.replace("'", "''") + "'" for t in [*known_event_types, log_shape.event_type])
    return f"""
        SELECT *,
            CASE
                WHEN user_id IS NULL OR trim(user_id) = '' THEN 'missing user_id'
                WHEN item_id IS NULL OR trim(item_id) = '' THEN 'missing item_id'
                {id_rule_sql("user_id")}
                {id_rule_sql("item_id")}
                WHEN ts IS NULL AND isfinite(TRY_CAST(ts_text AS DOUBLE)) THEN 'ts out of range'
                WHEN ts IS NULL THEN 'missing or unparseable ts'
                WHEN ts < TIMESTAMP '{EARLIEST_TS}' OR ts > now()::TIMESTAMP + INTERVAL 1 DAY
                    THEN 'ts out of range'
                WHEN event_type IS NULL OR event_type NOT IN ({known}) THEN 'unknown event_type'
                WHEN abs(quantity) > {MAX_ABS_QUANTITY} THEN 'absurd quantity'
                WHEN price < 0 OR price > {MAX_PRICE} THEN 'absurd price'
                {weight_rule_sql()}
            END AS reason
        FROM (
            SELECT
                {ids["user_id"]} AS user_id,
                {ids["item_id"]} AS item_id,
                lower(trim(TRY_CAST({col["event_type"]} AS VARCHAR), ' \t\r\n')) AS event_type,
                {ts_sql(col["ts"], (types or {}).get("ts", "VARCHAR"), log_shape.ts_unit)} AS ts,
                TRY_CAST({col["ts"]} AS VARCHAR) AS ts_text,
                TRY_CAST({col["quantity"]} AS DOUBLE) AS quantity,
                TRY_CAST({col["price"]} AS DOUBLE) AS price,
                TRY_CAST({col["country"]} AS VARCHAR) AS country,
                TRY_CAST({col["weight"]} AS DOUBLE) AS weight,
                TRY_CAST({col["weight"]} AS VARCHAR) AS weight_text,
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


def ts_sql(expr: str, sql_type: str = "VARCHAR", unit: TsUnit = "auto") -> str:
    """SQL giving an event time as a UTC timestamp: an offset (``+05:00``, ``Z``) or a zone-aware
    column is converted to UTC, a time without one is taken as UTC (the connection's zone,
    ``warehouse.connect``). A number (a numeric column, or text that reads as one) is an epoch
    time in ``unit`` (``epoch_seconds_sql``); a number no time can be is NULL."""
    as_time = f"TRY_CAST(TRY_CAST({expr} AS TIMESTAMPTZ) AS TIMESTAMP)"
    kind = sql_type.upper()
    if kind in NUMERIC_TYPES or kind.startswith("DECIMAL"):
        return epoch_sql(f"TRY_CAST({expr} AS DOUBLE)", unit)
    if kind not in ("VARCHAR", "JSON"):  # a timestamp, a date: its own type says what it is
        return as_time
    number = f"TRY_CAST(TRY_CAST({expr} AS VARCHAR) AS DOUBLE)"
    return f"CASE WHEN {number} IS NULL THEN {as_time} ELSE {epoch_sql(number, unit)} END"


def epoch_sql(number: str, unit: TsUnit) -> str:
    """SQL reading an epoch number as a timestamp: seconds, milliseconds, or (``auto``) by magnitude.

    Magnitude: at or above ``MS_FROM`` (1e11) a value is milliseconds, below it seconds. The ranges
    overlap nowhere a real log lives: 1e11 seconds is the year 5138, 1e11 milliseconds March 1973.
    Values outside ``[0, MAX_EPOCH_SECONDS)`` once in seconds, NaN and infinities give NULL (the
    row is quarantined as "ts out of range" or "missing or unparseable ts"), never an overflow.
    """
    if unit == "s":
        seconds = number
    elif unit == "ms":
        seconds = f"({number} / 1000.0)"
    else:
        seconds = f"(CASE WHEN abs({number}) >= {MS_FROM} THEN {number} / 1000.0 ELSE {number} END)"
    return (
        f"CASE WHEN isfinite({seconds}) AND {seconds} >= 0 AND {seconds} < {MAX_EPOCH_SECONDS} "
        f"THEN make_timestamp(CAST(round({seconds} * 1e6) AS BIGINT)) END"
    )


def weight_rule_sql() -> str:
    """CASE branches quarantining a weight (or rating) that is not a finite number in [0, MAX_WEIGHT]."""
    return (
        "WHEN weight IS NULL AND trim(coalesce(weight_text, '')) <> '' THEN 'unparseable weight' "
        "WHEN NOT isfinite(weight) THEN 'weight not finite' "
        "WHEN weight < 0 THEN 'negative weight' "
        f"WHEN weight > {MAX_WEIGHT} THEN 'absurd weight'"
    )


def id_types(
    con: duckdb.DuckDBPyConnection, flat: str, available: dict[str, str], column_map: dict[str, str]
) -> dict[str, str]:
    """The SQL types of the user and item id expressions over the batch's flat rows."""
    found = {}
    for column in ("user_id", "item_id", "ts"):
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


def check_columns(
    name: str, available: Sequence[str], column_map: dict[str, str], log_shape: LogShape | None = None
) -> None:
    """Every required event column must come from a column of the file or an SQL expression."""
    column_map = (log_shape or LogShape()).completed(column_map, available)
    missing = [
        column_map.get(c, c)
        for c in REQUIRED_COLUMNS
        if not column_map.get(c, c).startswith(SQL_PREFIX) and column_map.get(c, c) not in available
    ]
    if missing:
        raise IngestError(
            f"{name}: missing required column(s) {', '.join(missing)} (found: {', '.join(available)})"
        )
