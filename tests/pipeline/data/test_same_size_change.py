"""A loaded file rewritten with other bytes of the same length (and the same modification time) is a
change: the manifest compares checksums, not sizes. Locally that is the sha256, on S3 the ETag."""

from __future__ import annotations

import os
import re

import pytest

from pipeline.data.ingest import IngestError, already_loaded, ingest
from pipeline.data.sources import discover_local
from tests.pipeline.data.logs import counts

LOADED = "user_id,item_id,event_type,ts\nu1,i1,view,2026-01-01 10:00:00\nu2,i2,cart,2026-01-01 10:01:00\n"
SAME_SIZE = r": changed since it was loaded at .*\(92 -> 92 bytes, other content\)"
REWRITTEN = LOADED.replace("u2,i2", "u7,i9")  # same length, same rows count, other content


def test_the_two_files_differ_only_in_content():
    assert len(REWRITTEN.encode()) == len(LOADED.encode()) and REWRITTEN != LOADED


@pytest.mark.parametrize("on_changed_file", ["fail", "append"])
def test_a_file_rewritten_at_the_same_size_and_time_fails_and_keeps_what_was_loaded(
    con, tmp_path, on_changed_file
):
    path = tmp_path / "log.csv"
    path.write_text(LOADED)
    ingest(con, [path])
    stat = path.stat()
    path.write_text(REWRITTEN)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert already_loaded(con, discover_local(str(path))[0]) == "changed"
    with pytest.raises(IngestError, match="^" + re.escape(str(path)) + SAME_SIZE):
        ingest(con, [path], on_changed_file=on_changed_file)
    assert counts(con) == (2, 0, 1)
    rows = con.execute("SELECT user_id, item_id FROM raw_events ORDER BY source_row").fetchall()
    assert rows == [("u1", "i1"), ("u2", "i2")]


def test_an_s3_object_replaced_at_the_same_size_fails(con, bucket):
    s3, name = bucket
    s3.put_object(Bucket=name, Key="day/log.csv", Body=LOADED.encode())
    source = f"s3://{name}/day/log.csv"
    ingest(con, [source], s3_client=lambda: s3)
    s3.put_object(Bucket=name, Key="day/log.csv", Body=REWRITTEN.encode())
    with pytest.raises(IngestError, match="^" + re.escape(source) + SAME_SIZE):
        ingest(con, [source], s3_client=lambda: s3)
    assert counts(con) == (2, 0, 1)


def test_an_unchanged_file_is_skipped(con, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(LOADED)
    ingest(con, [path])
    assert ingest(con, [path]).files_skipped == [str(path.resolve())]
    assert counts(con) == (2, 0, 1)
