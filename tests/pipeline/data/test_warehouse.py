"""The warehouse: stable id indices that never change or get reused."""

from __future__ import annotations

from pipeline.data.ingest import ingest
from tests.pipeline.data.logs import events, write


def test_stable_indices_survive_new_files(con, tmp_path):
    ingest(con, [write(events(3, item_id=["c", "a", "b"]), tmp_path / "day1.parquet")])
    first = dict(con.execute("SELECT item_id, idx FROM item_ids").fetchall())
    assert first == {"a": 0, "b": 1, "c": 2}
    report = ingest(con, [write(events(3, day=2, item_id=["b", "0-new", "d"]), tmp_path / "day2.parquet")])
    assert report.new_items == 2
    assert dict(con.execute("SELECT item_id, idx FROM item_ids").fetchall()) == first | {"0-new": 3, "d": 4}
