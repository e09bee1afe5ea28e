"""The optional ``rec_id`` column: kept as text exactly as the log wrote it, mapped like any other
column, nullable, and added to warehouses made before it existed (issue #14, feedback events)."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.data import warehouse
from pipeline.data.ingest import ingest
from pipeline.settings import load_settings
from tests.pipeline.data.logs import events, write

BLANK = " \t\r\n"  # what is trimmed off a rec_id
HOSTILE = ["a#b", "x,y", "../../etc/passwd", "ünïcødé-✓", "r" * 3000, "'; DROP TABLE raw_events; --", '"q"']


def rec_ids(con) -> list[str | None]:
    rows = con.execute("SELECT rec_id FROM raw_events ORDER BY file_id, source_row").fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_hostile_rec_ids_are_kept_exactly(con, tmp_path, suffix):
    frame = events(len(HOSTILE), rec_id=HOSTILE)
    report = ingest(con, [write(frame, tmp_path / f"day{suffix}")])
    assert (report.rows_loaded, report.rows_quarantined) == (len(HOSTILE), 0)
    assert rec_ids(con) == HOSTILE
    assert con.execute("SELECT count(*) FROM raw_events").fetchone()[0] == len(HOSTILE)  # no table dropped


def test_missing_blank_and_numeric_rec_ids(con, tmp_path):
    ingest(con, [write(events(4, rec_id=[None, "  ", " abc ", "7"]), tmp_path / "a.jsonl")])
    ingest(con, [write(events(2, day=2), tmp_path / "b.parquet")])  # a log without the column
    assert rec_ids(con) == [None, None, "abc", "7", None, None]


def test_rec_id_is_mapped_like_any_other_column(con, tmp_path):
    frame = events(2).assign(RecommendationId=["r1", "r2"])
    ingest(con, [write(frame, tmp_path / "a.csv")], {"rec_id": "RecommendationId"})
    ingest(con, [write(events(1, day=2), tmp_path / "b.csv")], {"rec_id": "sql:'from-' || user_id"})
    assert rec_ids(con) == ["r1", "r2", "from-u0"]
    mapped = {"rec_id": "RecommendationId"}
    assert load_settings(column_map=mapped).column_map == mapped  # a setting may map it too


def test_a_quarantined_row_keeps_its_rec_id(con, tmp_path):
    frame = events(4, rec_id=["r0", "r1", "r2", "r3"], event_type=["view", "view", "teleport", "view"])
    ingest(con, [write(frame, tmp_path / "a.jsonl")], max_bad_fraction=0.5)
    assert con.execute("SELECT json_extract_string(raw, '$.rec_id') FROM quarantine").fetchone() == ("r2",)


def test_a_warehouse_from_before_the_column_gains_it(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as old:  # raw_events as it was before rec_id
        old.execute(
            "CREATE TABLE raw_events (user_id VARCHAR NOT NULL, item_id VARCHAR NOT NULL, "
            "event_type VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, quantity DOUBLE, price DOUBLE, "
            "country VARCHAR, file_id INTEGER NOT NULL, source_row BIGINT NOT NULL)"
        )
        old.execute("INSERT INTO raw_events VALUES ('u', 'i', 'view', '2026-01-01', 1, 1, 'GB', 0, 1)")
    with warehouse.connect(path) as con:
        ingest(con, [write(events(1, rec_id=["r9"]), tmp_path / "a.parquet")])
        assert con.execute("SELECT user_id, rec_id FROM raw_events ORDER BY file_id").fetchall() == [
            ("u", None),
            ("u0", "r9"),
        ]
    with warehouse.connect(path) as again:  # opening twice changes nothing
        assert again.execute("SELECT count(*) FROM raw_events").fetchone() == (2,)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=300).filter(lambda s: s.strip(BLANK) and "\x00" not in s))
def test_any_text_rec_id_round_trips_through_json_lines(tmp_path_factory, rec_id):
    root = tmp_path_factory.mktemp("rec")
    with warehouse.connect(root / "w.duckdb") as con:
        ingest(con, [write(events(1, rec_id=[rec_id]), root / "a.jsonl")])
        assert rec_ids(con) == [rec_id.strip(BLANK)]
