"""The manifest row of every file, by value: one call that mixes formats gives each file its own
id, counts and checksum; an appended file's row adds up its rows and bad rows; the next call
skips every file it holds."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pipeline.data.ingest import ingest
from pipeline.data.staging import LogShape
from tests.pipeline.data.logs import events, write

HEADER = "user_id,item_id,event_type,ts\n"


def manifest(con) -> list[tuple]:
    columns = "path, file_id, size_bytes, checksum, rows_loaded, rows_quarantined"
    return con.execute(f"SELECT {columns} FROM manifest ORDER BY file_id").fetchall()


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_one_call_of_mixed_formats_gives_each_file_its_own_id_counts_and_checksum(con, tmp_path):
    a = write(events(4, day=1), tmp_path / "a.parquet")
    b = write(events(5, day=2), tmp_path / "b.parquet")
    bad_row = events(3, day=3)
    bad_row.loc[1, "user_id"] = None
    c = write(bad_row, tmp_path / "c.csv")
    d = write(events(2, day=4), tmp_path / "d.jsonl")
    report = ingest(con, [d, c, b, a], max_bad_fraction=0.5)
    # the Parquet files load together first, then each other file, ids in that order (else the call's)
    assert report.files_loaded == [str(b), str(a), str(d), str(c)]
    assert (report.rows_loaded, report.rows_quarantined) == (4 + 5 + 2 + 2, 1)
    rows = manifest(con)
    assert [(path, file_id, good, bad) for path, file_id, _, _, good, bad in rows] == [
        (str(b), 1, 5, 0),
        (str(a), 2, 4, 0),
        (str(d), 3, 2, 0),
        (str(c), 4, 2, 1),
    ]
    for path, _, size, checksum, _, _ in rows:
        assert (size, checksum.removeprefix("sha256:")) == (
            (tmp_path / path).stat().st_size,
            sha256(tmp_path / path),
        )
    # every event row points at the file it came from, by that file's id
    per_file = con.execute("SELECT file_id, count(*) FROM raw_events GROUP BY 1 ORDER BY 1").fetchall()
    assert per_file == [(1, 5), (2, 4), (3, 2), (4, 2)]
    assert con.execute("SELECT source_file, source_row, reason FROM quarantine").fetchall() == [
        (str(c), 2, "missing user_id")
    ]
    # the next call skips all four and numbers a new file after them
    e = write(events(1, day=5), tmp_path / "e.csv")
    again = ingest(con, [a, b, c, d, e])
    assert (again.files_skipped, again.files_loaded) == ([str(a), str(b), str(c), str(d)], [str(e)])
    assert manifest(con)[-1][:2] == (str(e), 5)


def test_an_appended_file_adds_its_new_rows_and_bad_rows_to_its_manifest_row(con, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(HEADER + "u0,i0,view,2026-01-01 10:00:00\nu1,i1,view,2026-01-01 10:01:00\n")
    ingest(con, [path], on_changed_file="append")
    with path.open("a") as f:  # two more rows, one of them bad
        f.write("u2,i2,view,2026-01-01 10:02:00\n,i3,view,2026-01-01 10:03:00\n")
    grown = ingest(con, [path], on_changed_file="append", max_bad_fraction=0.5)
    assert (grown.files_changed, grown.rows_loaded, grown.rows_quarantined) == ([str(path)], 1, 1)
    assert manifest(con) == [(str(path), 1, path.stat().st_size, f"sha256:{sha256(path)}", 3, 1)]
    assert con.execute("SELECT source_row, reason FROM quarantine").fetchall() == [(4, "missing user_id")]
    skipped = ingest(con, [path], on_changed_file="append")
    assert (skipped.files_skipped, skipped.rows_loaded) == ([str(path)], 0)


def test_a_call_with_a_new_and_a_grown_file_reports_the_rows_of_both(con, tmp_path):
    grown = tmp_path / "log.csv"
    grown.write_text(HEADER + "u0,i0,view,2026-01-01 10:00:00\n")
    ingest(con, [grown], on_changed_file="append")
    with grown.open("a") as f:  # one good row and one bad added
        f.write("u1,i1,view,2026-01-01 10:01:00\nu2,,view,2026-01-01 10:02:00\n")
    new = tmp_path / "new.csv"
    new.write_text(HEADER + "u3,i3,view,2026-01-02 10:00:00\n,i4,view,2026-01-02 10:01:00\n")
    report = ingest(con, [new, grown], on_changed_file="append", max_bad_fraction=0.5)
    assert (report.files_loaded, report.files_changed) == ([str(new)], [str(grown)])
    assert (report.rows_loaded, report.rows_quarantined) == (2, 2)  # one of each, from each file


def test_two_files_with_bad_rows_in_one_call_report_all_the_bad_rows(con, tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(HEADER + "u0,i0,view,2026-01-01 10:00:00\n,i1,view,2026-01-01 10:01:00\n")
    second.write_text(HEADER + "u2,,view,2026-01-01 10:02:00\nu3,i3,view,2026-01-01 10:03:00\n")
    report = ingest(con, [first, second], max_bad_fraction=0.5)
    assert (report.rows_loaded, report.rows_quarantined) == (2, 2)
    assert report.quarantine_reasons == {"missing item_id": 1, "missing user_id": 1}


def test_the_added_rows_of_a_grown_file_are_read_with_the_call_s_column_map_and_log_shape(con, tmp_path):
    path = tmp_path / "clicks.csv"
    path.write_text("who,what,t\nu0,i0,1767261600\n")  # no event type column; epoch seconds
    rules = {"column_map": {"user_id": "who", "item_id": "what", "ts": "t"}, "on_changed_file": "append"}
    shape = LogShape(event_type="purchase", ts_unit="s")
    ingest(con, [path], log_shape=shape, **rules)
    with path.open("a") as f:
        f.write("u1,i1,1767265200\n")
    ingest(con, [path], log_shape=shape, **rules)
    rows = con.execute(
        "SELECT user_id, item_id, event_type, ts FROM raw_events ORDER BY source_row"
    ).fetchall()
    assert rows == [
        ("u0", "i0", "purchase", datetime(2026, 1, 1, 10, 0)),
        ("u1", "i1", "purchase", datetime(2026, 1, 1, 11, 0)),
    ]
