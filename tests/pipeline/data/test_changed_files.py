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
