"""Ingest: every source shape, every bad-input case with its exact outcome, idempotency, S3."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from pipeline.data.ingest import IngestError, ingest, parse_column_map
from tests.paths import SHARED_DATA, TEST_DATA
from tests.pipeline.data.logs import counts, events, write

DATA = TEST_DATA
RETAIL = SHARED_DATA / "online-retail" / "online_retail.parquet"
RETAIL_MAP = {
    "user_id": "CustomerID",
    "item_id": "StockCode",
    "ts": "InvoiceDate",
    "event_type": "sql:CASE WHEN InvoiceNo LIKE 'C%' THEN 'return' ELSE 'purchase' END",
    "quantity": "Quantity",
    "price": "UnitPrice",
    "country": "Country",
}


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_each_format_loads_normalised_rows(con, tmp_path, suffix):
    path = write(events(4), tmp_path / f"day1{suffix}")
    report = ingest(con, [path])
    assert (report.rows_loaded, report.rows_quarantined, report.files_loaded) == (4, 0, [str(path)])
    rows = con.execute(
        "SELECT user_id, item_id, event_type, ts, quantity, price, country, source_row FROM raw_events "
        "ORDER BY source_row"
    ).fetchall()
    assert rows[2] == ("u0", "i2", "purchase", datetime(2026, 1, 1, 10, 2), 1.0, 2.5, "GB", 3)
    size, checksum = con.execute("SELECT size_bytes, checksum FROM manifest").fetchone()
    assert size == path.stat().st_size and checksum.startswith("sha256:") and len(checksum) == 71


def test_nested_otto_sessions_are_unnested(con):
    report = ingest(con, [DATA / "otto" / "sessions.jsonl"])
    assert (report.rows_loaded, report.rows_quarantined, report.new_users, report.new_items) == (
        862,
        0,
        20,
        510,
    )
    types = dict(con.execute("SELECT event_type, count(*) FROM raw_events GROUP BY 1").fetchall())
    assert types == {"view": 800, "cart": 52, "purchase": 10}
    first = con.execute(
        "SELECT user_id, item_id, event_type, ts, source_row FROM raw_events ORDER BY ts LIMIT 1"
    ).fetchone()
    assert first == ("0", "1517085", "view", datetime(2022, 7, 31, 22, 0, 0, 25000), 1)


# ---------------------------------------------------------------- column mapping


def test_column_map_on_the_real_retail_data(con):
    if not RETAIL.exists():
        pytest.skip(f"{RETAIL} is not in this checkout's shared data")
    report = ingest(con, [RETAIL], RETAIL_MAP, max_bad_fraction=0.3)
    # guest checkouts (no CustomerID) are the only bad rows of this file
    assert (report.rows_loaded, report.rows_quarantined) == (406_829, 135_080)
    assert report.quarantine_reasons == {"missing user_id": 135_080}
    types = dict(con.execute("SELECT event_type, count(*) FROM raw_events GROUP BY 1").fetchall())
    assert types == {"purchase": 397_924, "return": 8_905}
    row = con.execute(
        "SELECT user_id, item_id, event_type, ts, quantity, price, country FROM raw_events "
        "WHERE source_row = 1"
    ).fetchone()
    assert row == ("17850", "85123A", "purchase", datetime(2010, 12, 1, 8, 26), 6.0, 2.55, "United Kingdom")
    guest = con.execute("SELECT source_row, raw FROM quarantine ORDER BY source_row LIMIT 1").fetchone()
    assert guest[0] == 623 and json.loads(guest[1])["user_id"] is None


def test_retail_guests_over_the_default_bad_fraction_fail_naming_the_file(con):
    if not RETAIL.exists():
        pytest.skip(f"{RETAIL} is not in this checkout's shared data")
    with pytest.raises(IngestError) as err:
        ingest(con, [RETAIL], RETAIL_MAP)
    assert str(err.value) == (
        f"{RETAIL}: 135080 of 541909 rows are bad (24.9%), over the max_bad_fraction of 5.0%: "
        "135080 missing user_id"
    )
    assert counts(con) == (0, 0, 0)


def test_sql_constant_and_expression_maps(con, tmp_path):
    frame = events(2).drop(columns=["event_type"]).rename(columns={"user_id": "who", "ts": "when"})
    frame["when"] = [1_767_261_600_000, 1_767_261_660_000]  # epoch milliseconds
    path = write(frame, tmp_path / "custom.parquet")
    column_map = {"user_id": "who", "ts": 'sql:epoch_ms("when")', "event_type": "sql:'purchase'"}
    assert ingest(con, [path], column_map).rows_loaded == 2
    assert con.execute("SELECT min(ts), min(event_type), max(event_type) FROM raw_events").fetchone() == (
        datetime(2026, 1, 1, 10, 0),
        "purchase",
        "purchase",
    )


def test_a_map_expression_that_does_not_apply_names_file_and_map(con, tmp_path):
    path = write(events(2), tmp_path / "a.parquet")
    with pytest.raises(
        IngestError,
        match=r"a.parquet: the column map \{'event_type': 'sql:upper\(nosuch\)'\} does not apply: Binder",
    ):
        ingest(con, [path], {"event_type": "sql:upper(nosuch)"})  # an allowed function, a missing column
    assert counts(con) == (0, 0, 0)


@pytest.mark.parametrize(
    "pairs, expected",
    [
        (["user_id=CustomerID"], {"user_id": "CustomerID"}),
        (["event_type=sql:'a=b'"], {"event_type": "sql:'a=b'"}),
    ],
)
def test_parse_column_map(pairs, expected):
    assert parse_column_map(pairs) == expected


def test_parse_column_map_rejects_a_pair_without_source():
    with pytest.raises(IngestError, match=r"--map 'user_id': expected COLUMN=SOURCE"):
        parse_column_map(["user_id"])


# ---------------------------------------------------------------- bad rows and bad files


@pytest.mark.parametrize(
    "column, value, reason",
    [
        ("user_id", None, "missing user_id"),
        ("user_id", "  ", "missing user_id"),
        ("item_id", None, "missing item_id"),
        ("ts", "not a time", "missing or unparseable ts"),
        ("ts", "1970-01-02 00:00:00", "ts out of range"),
        ("ts", "2999-01-01 00:00:00", "ts out of range"),
        ("event_type", "wishlist", "unknown event_type"),
        ("quantity", "5000000", "absurd quantity"),
        ("price", "-1", "absurd price"),
    ],
)
def test_each_bad_row_is_quarantined_with_file_row_and_reason(con, tmp_path, column, value, reason):
    frame = events(20).astype({"ts": str, "quantity": object, "price": object})
    frame.loc[6, column] = value
    path = write(frame, tmp_path / "day.csv")
    report = ingest(con, [path], max_bad_fraction=0.1)
    assert (report.rows_loaded, report.rows_quarantined, report.quarantine_reasons) == (19, 1, {reason: 1})
    assert con.execute("SELECT source_file, source_row, reason FROM quarantine").fetchall() == [
        (str(path), 7, reason)
    ]
    assert con.execute("SELECT count(*) FROM raw_events WHERE source_row = 7").fetchone()[0] == 0


def test_parquet_files_loaded_together_keep_their_own_rows_and_counts(con, tmp_path):
    first = write(events(4, day=1), tmp_path / "a.parquet")
    frame = events(20, day=2)
    frame.loc[6, "item_id"] = None
    second = write(frame, tmp_path / "b.parquet")
    report = ingest(con, [first, second], max_bad_fraction=0.1)
    assert (report.rows_loaded, report.rows_quarantined) == (23, 1)
    assert con.execute("SELECT source_file, source_row, reason FROM quarantine").fetchall() == [
        (str(second), 7, "missing item_id")
    ]
    assert con.execute(
        "SELECT path, file_id, rows_loaded, rows_quarantined FROM manifest ORDER BY 2"
    ).fetchall() == [
        (str(first), 1, 4, 0),
        (str(second), 2, 19, 1),
    ]
    per_file = con.execute("SELECT file_id, count(*), max(source_row) FROM raw_events GROUP BY 1 ORDER BY 1")
    assert per_file.fetchall() == [(1, 4, 4), (2, 19, 20)]


def test_too_many_bad_rows_fail_the_file_and_store_nothing(con, tmp_path):
    frame = events(10)
    frame.loc[[1, 2], "event_type"] = "wishlist"
    good = write(events(4), tmp_path / "a-good.parquet")
    bad = write(frame, tmp_path / "b-bad.parquet")
    with pytest.raises(IngestError) as err:
        ingest(con, [good, bad], max_bad_fraction=0.1)
    assert str(err.value) == (
        f"{bad}: 2 of 10 rows are bad (20.0%), over the max_bad_fraction of 10.0%: 2 unknown event_type"
    )
    assert counts(con) == (0, 0, 0)


def test_missing_required_column_fails_naming_file_and_column(con, tmp_path):
    good = write(events(4), tmp_path / "a.parquet")
    bad = write(events(4).drop(columns=["ts"]), tmp_path / "b.parquet")
    with pytest.raises(IngestError) as err:
        ingest(con, [good, bad])
    assert str(err.value) == (
        f"{bad}: missing required column(s) ts "
        "(found: user_id, item_id, event_type, quantity, price, country)"
    )
    assert counts(con) == (0, 0, 0)


def test_unreadable_file_fails_naming_it(con, tmp_path):
    good = write(events(4), tmp_path / "a.parquet")
    bad = tmp_path / "b.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(IngestError, match=rf"^{bad}: unreadable: "):
        ingest(con, [good, bad])
    assert counts(con) == (0, 0, 0)


def test_empty_file_fails(con, tmp_path):
    path = write(events(0), tmp_path / "empty.parquet")
    with pytest.raises(IngestError, match=rf"^{path}: file holds no rows$"):
        ingest(con, [path])


def test_a_failed_call_leaves_earlier_loads_exactly_as_they_were(con, tmp_path):
    first = write(events(4, day=1), tmp_path / "day1.parquet")
    ingest(con, [first])
    before = con.execute("SELECT * FROM raw_events ORDER BY source_row").fetchall()
    maps = con.execute("SELECT * FROM item_ids ORDER BY idx").fetchall()
    second = write(events(4, day=2, item_id=["new1", "new2", "new3", "new4"]), tmp_path / "day2.parquet")
    broken = write(events(4).drop(columns=["user_id"]), tmp_path / "day3.parquet")
    with pytest.raises(IngestError):
        ingest(con, [second, broken])
    assert con.execute("SELECT * FROM raw_events ORDER BY source_row").fetchall() == before
    assert con.execute("SELECT * FROM item_ids ORDER BY idx").fetchall() == maps
    assert counts(con) == (4, 0, 1)


# ---------------------------------------------------------------- idempotent and incremental


def test_reingest_adds_nothing_and_a_new_day_adds_only_its_rows(con, tmp_path):
    day1 = write(events(4, day=1), tmp_path / "events" / "day1.parquet")
    assert ingest(con, [tmp_path / "events"]).rows_loaded == 4
    again = ingest(con, [tmp_path / "events"])
    assert (again.rows_loaded, again.files_loaded, again.files_skipped) == (0, [], [str(day1)])
    write(events(3, day=2), tmp_path / "events" / "day2.parquet")
    third = ingest(con, [tmp_path / "events"])
    assert (third.rows_loaded, len(third.files_loaded), len(third.files_skipped)) == (3, 1, 1)
    assert counts(con) == (7, 0, 2)


def test_a_changed_file_under_a_loaded_name_fails_naming_it(con, tmp_path):
    path = write(events(4), tmp_path / "day1.parquet")
    ingest(con, [path])
    write(events(6), path)
    with pytest.raises(IngestError, match=f"^{path}: changed since it was loaded at "):
        ingest(con, [path])
    assert counts(con) == (4, 0, 1)


# ---------------------------------------------------------------- S3 through the local moto server


def test_s3_prefix_is_downloaded_loaded_and_recorded(con, tmp_path, bucket):
    s3, name = bucket
    for key, frame in [("logs/day1.parquet", events(4, day=1)), ("logs/day2.csv", events(3, day=2))]:
        s3.upload_file(str(write(frame, tmp_path / Path(key).name)), name, key)
    s3.put_object(Bucket=name, Key="other/day9.parquet", Body=b"not under the prefix")
    report = ingest(con, [f"s3://{name}/logs/"], s3_client=lambda: s3)
    assert (report.rows_loaded, report.files_loaded) == (
        7,
        [f"s3://{name}/logs/day1.parquet", f"s3://{name}/logs/day2.csv"],
    )
    etag = s3.head_object(Bucket=name, Key="logs/day1.parquet")["ETag"].strip('"')
    size, checksum = con.execute(
        "SELECT size_bytes, checksum FROM manifest WHERE path = ?", [f"s3://{name}/logs/day1.parquet"]
    ).fetchone()
    assert (size, checksum) == ((tmp_path / "day1.parquet").stat().st_size, f"etag:{etag}")

    again = ingest(con, [f"s3://{name}/logs/"], s3_client=lambda: s3)
    assert (again.rows_loaded, len(again.files_skipped)) == (0, 2)
    s3.upload_file(str(write(events(5), tmp_path / "changed.parquet")), name, "logs/day1.parquet")
    with pytest.raises(IngestError, match=f"^s3://{name}/logs/day1.parquet: changed since it was loaded"):
        ingest(con, [f"s3://{name}/logs/*.parquet"], s3_client=lambda: s3, on_changed_file="append")


# ---------------------------------------------------------------- the command line
