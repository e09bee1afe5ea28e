"""Column-map SQL (``{"event_type": "sql:CASE WHEN ... END"}``): a safe subset of DuckDB expressions.

A column map can be changed by whoever can start a run (a Prefect deployment's ``settings``
parameter, a config file), so an expression may compute a value from the row's own columns and
nothing else: no subquery, no table function (``read_text('/etc/passwd')``), no function
that reads the process, the session or the catalog (``getenv``, ``current_setting``,
``pg_*``), no window or lambda.

How: DuckDB parses ``SELECT <expression>`` (``json_serialize_sql``); every node of the tree
must be of an allowed class and every function a scalar function outside ``DENIED``; then the
expression that runs is the one rendered back from that tree (``json_deserialize_sql``), so
what was checked is exactly what runs (comments and tricks with quoting are gone).
"""

from __future__ import annotations

import json

import duckdb

from pipeline.data.warehouse import one_row
from pipeline.errors import IngestError

SQL_PREFIX = "sql:"
ALLOWED_CLASSES = {"COLUMN_REF", "CONSTANT", "FUNCTION", "OPERATOR", "CASE", "CAST", "COMPARISON",
                   "CONJUNCTION", "BETWEEN"}  # fmt: skip
# scalar functions that read something besides the row, or change the session's state
DENIED = {"getenv", "current_setting", "current_database", "current_catalog", "current_schema",
          "current_schemas", "current_user", "session_user", "user", "current_role", "version",
          "nextval", "currval", "setseed", "txid_current", "error", "make_random_uuid",
          "in_search_path", "sleep_ms", "current_query", "col_description", "obj_description",
          "shobj_description", "get_block_size", "regexp_split_to_table", "generate_subscripts"}  # fmt: skip
# built-in macros of these families read the catalog, the session or the network peer
DENIED_PREFIXES = ("pg_", "has_", "current_", "inet_", "format_", "map_to_pg", "map_type_id")


def checked_column_map(con: duckdb.DuckDBPyConnection, column_map: dict[str, str]) -> dict[str, str]:
    """``column_map`` with every ``sql:`` expression checked and re-rendered; ``IngestError`` naming
    the column, the expression and the rule otherwise."""
    return {
        column: SQL_PREFIX + safe_expression(con, column, source[len(SQL_PREFIX) :])
        if source.startswith(SQL_PREFIX)
        else source
        for column, source in column_map.items()
    }


def safe_expression(con: duckdb.DuckDBPyConnection, column: str, expression: str) -> str:
    """The expression as DuckDB renders it back, once it is a plain expression over the row's columns."""
    where = f"column_map {column} = 'sql:{expression[:200]}'"
    tree = json.loads(one_row(con, "SELECT json_serialize_sql(?)", [f"SELECT {expression}"])[0])
    if tree.get("error"):
        raise IngestError(f"{where} is not an SQL expression: {tree.get('error_message', 'parse error')}")
    statements = tree["statements"]
    node = statements[0]["node"] if len(statements) == 1 else {}
    if not _one_plain_expression(node):
        raise IngestError(f"{where} must be one expression over the row's columns (no FROM, no clauses)")
    problem = _first_denied(node["select_list"][0], _scalar_functions(con))
    if problem:
        raise IngestError(f"{where}: {problem} is not allowed in a column map (docs/security.md)")
    rendered = one_row(con, "SELECT json_deserialize_sql(?)", [json.dumps(tree)])[0]
    return rendered.removeprefix("SELECT ")


def _one_plain_expression(node: dict) -> bool:
    return (
        node.get("type") == "SELECT_NODE"
        and len(node.get("select_list", [])) == 1
        and node.get("from_table", {}).get("type") == "EMPTY"
        and not node.get("where_clause")
        and not node.get("group_expressions")
        and not node.get("having")
        and not node.get("qualify")
        and not node.get("modifiers")
        and not node.get("cte_map", {}).get("map")
    )


def _first_denied(node: object, scalars: set[str]) -> str | None:
    """The first node of an expression tree outside the safe subset, described; None if none."""
    if isinstance(node, list):
        return next((p for p in (_first_denied(n, scalars) for n in node) if p), None)
    if not isinstance(node, dict):
        return None
    kind = node.get("class")
    if kind is not None and kind not in ALLOWED_CLASSES:
        return f"a {kind.lower()} expression"
    if kind == "FUNCTION":
        name = str(node.get("function_name", "")).lower()
        if node.get("schema") or node.get("catalog"):
            return f"the qualified function {node.get('schema')}.{name}"
        if name in DENIED or name.startswith(DENIED_PREFIXES):
            return f"the function {name}()"
        if name not in scalars:
            return f"{name}() (not one of DuckDB's scalar functions)"
    return next((p for p in (_first_denied(v, scalars) for v in node.values()) if p), None)


def _scalar_functions(con: duckdb.DuckDBPyConnection) -> set[str]:
    """DuckDB's scalar functions and scalar macros (``split_part``, ``if``, ``nullif`` are macros)."""
    sql = "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type IN ('scalar', 'macro')"
    rows = con.execute(sql)
    return {name.lower() for (name,) in rows.fetchall()}
