"""Hostile rows: ids of every shape and type, time zones, padded event types, ragged CSVs and
column-map SQL that reaches outside the row (issue #12, items 4, 7, 8, 13 and 16)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import contract
from pipeline.data import warehouse
from pipeline.data.ingest import IngestError, ingest
from tests.pipeline.data.logs import events, write


def ids_loaded(con, column: str = "user_id") -> list[str]:
    return [
        r[0] for r in con.execute(f"SELECT {column} FROM raw_events ORDER BY file_id, source_row").fetchall()
    ]


# -- item 7: one id, one string ------------------------------------------------------------------


def test_an_id_is_one_string_whatever_its_parquet_type(con, tmp_path):
    as_int = events(2, user_id=[12345, 777], item_id=[1, 2])
    as_float = events(2, user_id=[12345.0, 777.0], item_id=[1.0, 2.5])
    write(as_int, tmp_path / "a.parquet")
    write(as_float, tmp_path / "b.parquet")  # one read_parquet call widens both files to DOUBLE
    ingest(con, [tmp_path])
    assert sorted(ids_loaded(con)) == ["12345", "12345", "777", "777"]
    assert sorted(ids_loaded(con, "item_id")) == ["1", "1", "2", "2.5"]
    assert con.execute("SELECT count(*) FROM user_ids").fetchone()[0] == 2


def test_json_lines_ids_lose_neither_quotes_nor_gain_fractions(con, tmp_path):
    rows = [
        {"user_id": 85123, "item_id": "85123A", "event_type": "view", "ts": "2026-01-01T10:00:00"},
        {"user_id": "u7", "item_id": 777.0, "event_type": "view", "ts": "2026-01-01T10:01:00"},
        {"user_id": 85123.0, "item_id": 12, "event_type": "view", "ts": "2026-01-01T10:02:00"},
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest(con, [path])
    assert ids_loaded(con) == ["85123", "u7", "85123"]
    assert ids_loaded(con, "item_id") == ["85123A", "777", "12"]


# -- item 8: the id rule at ingest ---------------------------------------------------------------


def test_ids_the_api_cannot_serve_are_quarantined_with_the_rule(con, tmp_path):
    users = ["x#y", "José", "a/b", "u,1", "z" * 3000, "tab\there", " padded"]
    path = write(events(len(users), user_id=users), tmp_path / "ids.parquet")
    report = ingest(con, [path], max_bad_fraction=1.0)
    assert sorted(set(ids_loaded(con))) == ["José", "a/b", "x#y"]
    reasons = dict(
        con.execute("SELECT json_extract_string(raw, '$.user_id'), reason FROM quarantine").fetchall()
    )
    assert reasons["z" * 3000] == "user_id over 256 characters (the id rule)"
    assert reasons["u,1"] == f"user_id breaks the id rule: {contract.ID_CHARACTERS}"
    assert set(reasons) == {"u,1", "z" * 3000, "tab\there", " padded"}
    assert report.rows_quarantined == 4


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(min_size=1, max_size=300), min_size=1, max_size=8, unique=True))
def test_ingest_keeps_exactly_the_ids_the_contract_accepts(tmp_path_factory, users):
    """Any text as a user id: stored unchanged when ``contract.id_problem`` accepts it, else quarantined
    with a reason; the two sides never disagree."""
    users = [u for u in users if u.strip()]  # blank ids are "missing user_id", a rule of their own
    if not users:
        return
    root = tmp_path_factory.mktemp("ids")
    path = write(events(len(users), user_id=users), root / "ids.parquet")
    with warehouse.connect(root / "w.duckdb") as con:
        ingest(con, [path], max_bad_fraction=1.0)
        stored = set(ids_loaded(con))
        quarantined = dict(
            con.execute("SELECT json_extract_string(raw, '$.user_id'), reason FROM quarantine").fetchall()
        )
    assert stored == {u for u in users if contract.id_problem(u) is None}
    assert set(quarantined) == {u for u in users if contract.id_problem(u) is not None}
    assert all(reason.startswith("user_id ") and "id rule" in reason for reason in quarantined.values())


# -- item 13: time zones -------------------------------------------------------------------------


def test_offsets_in_text_are_converted_to_utc(con, tmp_path):
    stamps = ["2026-01-01T10:00:00+09:00", "2026-01-01T10:00:00Z", "2026-01-01 10:00:00-08:00", "soon"]
    path = write(events(4, ts=stamps), tmp_path / "zones.csv")
    ingest(con, [path], max_bad_fraction=0.5)
    times = [r[0] for r in con.execute("SELECT ts FROM raw_events ORDER BY source_row").fetchall()]
    assert times == [datetime(2026, 1, 1, 1), datetime(2026, 1, 1, 10), datetime(2026, 1, 1, 18)]
    raw = json.loads(con.execute("SELECT raw FROM quarantine").fetchone()[0])
    assert raw["ts"] == "soon"  # the text as it came, not the parsed (null) value


def test_a_zone_aware_parquet_column_is_utc_whatever_the_hosts_zone(tmp_path, monkeypatch):
    aware = pd.Timestamp("2026-01-01T10:00:00+09:00")
    path = write(events(1, ts=[aware]), tmp_path / "aware.parquet")
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        with warehouse.connect(tmp_path / "w.duckdb") as con:
            ingest(con, [path])
            (stored,) = con.execute("SELECT ts FROM raw_events").fetchone()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert stored == aware.tz_convert(UTC).tz_localize(None).to_pydatetime()


# -- item 16: padded event types, ragged CSVs ----------------------------------------------------


def test_event_types_are_trimmed_and_lower_cased(con, tmp_path):
    path = write(events(3, event_type=[" view ", "\tCart", "PURCHASE  "]), tmp_path / "padded.csv")
    report = ingest(con, [path])
    assert report.rows_quarantined == 0
    assert [
        r[0] for r in con.execute("SELECT event_type FROM raw_events ORDER BY source_row").fetchall()
    ] == [
        "view",
        "cart",
        "purchase",
    ]


def test_a_ragged_csv_names_its_bad_line(con, tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text(
        "user_id,item_id,event_type,ts\nu1,i1,view,2026-01-01 10:00\nu2,i2,view\n"
        "u3,i3,view,2026-01-01 11:00,extra\n"
    )
    with pytest.raises(IngestError) as err:
        ingest(con, [path])
    assert str(err.value) == (
        f"{path}: line 3 has 3 fields, the header has 4 (user_id, item_id, event_type, ts)"
    )
    assert con.execute("SELECT count(*) FROM manifest").fetchone()[0] == 0


# -- item 4: column-map SQL computes from the row, nothing else ----------------------------------


@pytest.mark.parametrize(
    ("expression", "refused"),
    [
        ("(SELECT content FROM read_text('/etc/hostname'))", "a subquery expression"),
        ("getenv('HOME')", "the function getenv()"),
        ("current_setting('threads')", "the function current_setting()"),
        ("item_id FROM read_text('/etc/hostname')", "must be one expression over the row's columns"),
        ("item_id) , (SELECT 1", "is not an SQL expression"),
        ("item_id, (SELECT 1)", "must be one expression over the row's columns"),
        ("pg_sleep(5)", "the function pg_sleep()"),
        ("main.upper(item_id)", "the qualified function main.upper"),
        ("list_transform([1], x -> x)", "a lambda expression"),
    ],
)
def test_column_map_sql_that_reaches_outside_the_row_is_refused(con, tmp_path, expression, refused):
    path = write(events(2), tmp_path / "a.parquet")
    with pytest.raises(IngestError) as err:
        ingest(con, [path], {"item_id": f"sql:{expression}"})
    assert str(err.value).startswith(f"column_map item_id = 'sql:{expression}'")
    assert refused in str(err.value)
    assert con.execute("SELECT count(*) FROM raw_events").fetchone()[0] == 0


def test_column_map_sql_over_the_row_still_works_as_rendered(con, tmp_path):
    path = write(events(2, item_id=["a-1", "b-2"]), tmp_path / "a.parquet")
    ingest(con, [path], {"item_id": "sql:upper(split_part(item_id, '-', 1)) -- a comment"})
    assert ids_loaded(con, "item_id") == ["A", "B"]
