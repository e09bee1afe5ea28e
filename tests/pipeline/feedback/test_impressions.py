"""Impression ingest: idempotent, crash-safe, quarantining, from local files and the local S3."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipeline.errors import IngestError
from pipeline.feedback import impressions
from pipeline.feedback.impressions import ingest_impressions
from tests.pipeline.feedback.logs import envelope, firehose_object, json_lines, put, record

NOW = datetime(2026, 12, 8)


def table(con, name: str) -> int:
    return con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]


def test_objects_load_once_and_a_repeated_delivery_counts_once(con, tmp_path):
    put(tmp_path / "log/2026/12/07/18/a", firehose_object([envelope([record(1), record(2)])]))
    put(tmp_path / "log/2026/12/07/19/b", firehose_object([envelope([record(2), record(3), "REPORT x"])]))
    report = ingest_impressions(con, [tmp_path / "log"], now=NOW)
    assert (len(report.objects_loaded), report.records, report.duplicates, report.skipped_lines) == (
        2,
        3,
        1,
        1,
    )
    rows = con.execute(
        "SELECT rec_id, user_id, version, items[1], len(items) FROM impressions ORDER BY 1"
    ).fetchall()
    assert rows == [("r1", "u1", "v1", "i1", 3), ("r2", "u1", "v1", "i1", 3), ("r3", "u1", "v1", "i1", 3)]
    again = ingest_impressions(con, [tmp_path / "log"], now=NOW)
    assert (again.objects_loaded, again.objects_skipped, again.records) == ([], 2, 0)
    assert table(con, "impressions") == 3 and table(con, "impression_objects") == 2


def test_bad_records_are_quarantined_with_their_reason(con, tmp_path):
    path = put(
        tmp_path / "day.jsonl", json_lines([record(1), record(2, route="admin"), record(3, items="x")])
    )
    report = ingest_impressions(con, [path], now=NOW)
    assert (report.records, report.quarantined) == (1, 2)
    rows = con.execute(
        "SELECT source_file, position, reason FROM impression_quarantine ORDER BY 2"
    ).fetchall()
    assert rows == [
        (str(path.resolve()), 2, "route must be one of user, similar, got 'admin'"),
        (str(path.resolve()), 3, "items must be a list of item ids, got 'x'"),
    ]


def test_a_grown_file_adds_only_its_new_records(con, tmp_path):
    path = put(tmp_path / "day.jsonl", json_lines([record(1)]))
    ingest_impressions(con, [path], now=NOW)
    put(path, json_lines([record(1), record(2)]))
    report = ingest_impressions(con, [path], now=NOW)
    assert (report.objects_changed, report.records, report.duplicates) == ([str(path.resolve())], 1, 1)
    assert table(con, "impressions") == 2 and table(con, "impression_objects") == 1


def test_a_crash_half_way_loses_nothing_and_counts_nothing_twice(con, tmp_path, monkeypatch):
    for n in range(3):
        put(tmp_path / f"log/{n}", firehose_object([envelope([record(10 * n + k) for k in range(4)])]))
    ingest_impressions(con, [tmp_path / "log/0"], now=NOW)
    real, calls = impressions.append_records, []

    def crash_on_the_third_object(con, records, object_id):
        calls.append(object_id)
        if len(calls) == 2:
            raise KeyboardInterrupt("the container stopped")
        return real(con, records, object_id)

    monkeypatch.setattr(impressions, "append_records", crash_on_the_third_object)
    with pytest.raises(KeyboardInterrupt):
        ingest_impressions(con, [tmp_path / "log"], now=NOW)
    assert (table(con, "impressions"), table(con, "impression_objects")) == (4, 1)  # as before the call
    monkeypatch.setattr(impressions, "append_records", real)
    report = ingest_impressions(con, [tmp_path / "log"], now=NOW)
    assert (len(report.objects_loaded), report.objects_skipped, report.records, report.duplicates) == (
        2,
        1,
        8,
        0,
    )
    assert table(con, "impressions") == 12


def test_a_prefix_with_nothing_yet_loads_nothing_unless_required(con, tmp_path):
    assert ingest_impressions(con, [tmp_path / "none"], now=NOW).records == 0
    with pytest.raises(IngestError, match="no such file or directory"):
        ingest_impressions(con, [tmp_path / "none"], optional=False, now=NOW)


def test_objects_under_an_s3_prefix_load_with_hostile_keys(con, bucket):
    s3, name = bucket
    body = firehose_object([envelope([record(1), record(2)])], [envelope([record(3)])])
    s3.put_object(Bucket=name, Key="impressions/2026/12/07/18/recs-1-2026-12-07-18-00-00-abc", Body=body)
    s3.put_object(
        Bucket=name, Key="impressions/../../etc/[x]*?.gz", Body=firehose_object([envelope([record(4)])])
    )
    s3.put_object(Bucket=name, Key="elsewhere/z", Body=firehose_object([envelope([record(5)])]))
    report = ingest_impressions(con, [f"s3://{name}/impressions/"], s3_client=lambda: s3, now=NOW)
    assert (len(report.objects_loaded), report.records) == (2, 4)
    paths = [r[0] for r in con.execute("SELECT path FROM impression_objects ORDER BY object_id").fetchall()]
    assert paths == [
        f"s3://{name}/impressions/../../etc/[x]*?.gz",
        f"s3://{name}/impressions/2026/12/07/18/recs-1-2026-12-07-18-00-00-abc",
    ]
    assert (
        ingest_impressions(con, [f"s3://{name}/impressions/"], s3_client=lambda: s3, now=NOW).objects_skipped
        == 2
    )
