"""A loaded file that changed is never silent: it fails the call, or (append) its added rows load
exactly once (issue #12, item 12)."""

from __future__ import annotations

import pytest

from pipeline.data.ingest import IngestError, ingest
from tests.pipeline.data.logs import counts, events, write

HEADER = "user_id,item_id,event_type,ts\n"


def lines(n0: int, n1: int) -> str:
    return "".join(f"u{n},i{n},view,2026-01-01 10:{n:02d}:00\n" for n in range(n0, n1))


def test_rows_added_to_a_loaded_csv_fail_the_call_by_default(con, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(HEADER + lines(0, 3))
    ingest(con, [path])
    path.write_text(HEADER + lines(0, 5))
    with pytest.raises(IngestError) as err:
        ingest(con, [path])
    assert str(err.value).startswith(f"{path}: changed since it was loaded at ")
    assert "set on_changed_file = 'append'" in str(err.value)
    assert counts(con) == (3, 0, 1)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_append_loads_only_the_rows_added_at_the_end(con, tmp_path, suffix):
    path = tmp_path / f"log{suffix}"
    frame = events(6, user_id=[f"u{n}" for n in range(6)], item_id=[f"i{n}" for n in range(6)])
    write(frame.iloc[:3], path)
    first = ingest(con, [path], on_changed_file="append")
    more = write(frame.iloc[3:], tmp_path / f"more{suffix}").read_text()
    with path.open("a") as f:  # the log grows: the same bytes, then more rows (a CSV's without its header)
        f.write(more.split("\n", 1)[1] if suffix == ".csv" else more)
    grown = ingest(con, [path], on_changed_file="append")
    assert (first.rows_loaded, grown.rows_loaded, grown.files_changed) == (3, 3, [str(path)])
    users = [r[0] for r in con.execute("SELECT user_id FROM raw_events ORDER BY source_row").fetchall()]
    assert users == [f"u{n}" for n in range(6)]  # each row once, under one file
    assert con.execute("SELECT count(*) FROM user_ids").fetchone()[0] == 6  # new users got indices
    assert con.execute("SELECT rows_loaded, size_bytes FROM manifest").fetchone() == (6, path.stat().st_size)
    assert ingest(con, [path], on_changed_file="append").files_skipped == [str(path)]


def test_append_refuses_a_file_whose_old_rows_changed(con, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(HEADER + lines(0, 3))
    ingest(con, [path])
    path.write_text(HEADER + lines(1, 6))  # longer, but the first rows are not what was loaded
    with pytest.raises(IngestError, match="not by rows added at its end of a CSV or JSON-lines file"):
        ingest(con, [path], on_changed_file="append")
    assert counts(con) == (3, 0, 1)


def test_the_report_a_run_keeps_counts_what_each_call_did(con, tmp_path):
    """``as_dict`` is what the nightly logs and puts in its summary and data-quality check."""
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(HEADER + lines(0, 3))
    second.write_text(HEADER + lines(3, 5) + "u9,i9,view,not a time\n")
    loaded = ingest(con, [first, second], max_bad_fraction=0.5, on_changed_file="append").as_dict()
    assert {k: loaded[k] for k in ("files_loaded", "files_skipped", "files_changed")} == {
        "files_loaded": 2, "files_skipped": 0, "files_changed": [],
    }  # fmt: skip
    assert (loaded["rows_loaded"], loaded["rows_quarantined"]) == (5, 1)
    assert sum(loaded["quarantine_reasons"].values()) == 1
    assert (loaded["new_users"], loaded["new_items"]) == (5, 5)
    first.write_text(HEADER + lines(0, 3) + lines(7, 8))  # one row, of a new user and item, added
    again = ingest(con, [first, second], max_bad_fraction=0.5, on_changed_file="append").as_dict()
    assert (again["files_loaded"], again["files_skipped"], again["files_changed"]) == (0, 1, [str(first)])
    added = (again["rows_loaded"], again["rows_quarantined"], again["new_users"], again["new_items"])
    assert added == (1, 0, 1, 1)
