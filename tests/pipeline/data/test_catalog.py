"""The catalog: every format, the column map, quarantine rules, versions and idempotency, S3, the CLI."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest

from pipeline import cli
from pipeline.data.catalog import CatalogItem, current_items, describe_catalog, load_catalog
from pipeline.data.ingest import ingest
from pipeline.errors import IngestError
from tests.pipeline.data.logs import events, write


def items(n: int = 3, **overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(n)],
            "name": [f"Item {k}" for k in range(n)],
            "category": ["home/kitchen", "home", "garden"][:n] + ["garden"] * max(0, n - 3),
            "price": [1.5 * (k + 1) for k in range(n)],
            "available": [True] * n,
            "created_at": [f"2026-01-0{k % 9 + 1}" for k in range(n)],
            "colour": ["red"] * n,
        }
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_each_format_loads_items_with_their_extra_attributes(con, tmp_path, suffix):
    path = write(items(), tmp_path / f"items{suffix}")
    report = load_catalog(con, [path])
    assert (report.files_loaded, report.rows_loaded, report.rows_quarantined, report.items) == (
        [str(path)],
        3,
        0,
        3,
    )
    assert current_items(con)[0] == CatalogItem(
        "i0", "Item 0", "home/kitchen", 1.5, True, datetime(2026, 1, 1)
    )
    attributes = con.execute("SELECT attributes FROM catalog_items WHERE item_id = 'i2'").fetchone()[0]
    assert json.loads(attributes) == {"colour": "red"}


def test_a_column_map_names_the_files_columns_and_sql(con, tmp_path):
    frame = pd.DataFrame(
        {"StockCode": [777, 778], "Description": ["MUG", "LAMP"], "Dept": ["Home", "Garden"]}
    )
    path = write(frame, tmp_path / "shop.parquet")
    load_catalog(con, [path], {"item_id": "StockCode", "name": "Description", "category": "sql:lower(Dept)"})
    assert [(i.item_id, i.name, i.category, i.available) for i in current_items(con)] == [
        ("777", "MUG", "home", True),
        ("778", "LAMP", "garden", True),
    ]


def test_bad_rows_are_quarantined_with_the_rule_they_break(con, tmp_path):
    frame = items(7)
    frame.loc[0, "item_id"] = None
    frame.loc[1, "item_id"] = "a,b"
    frame.loc[2, "category"] = "home//kitchen"
    frame.loc[3, "price"] = -2.0
    frame["available"] = ["true", "no", "yes", "1", "maybe", "f", ""]
    frame.loc[6, "created_at"] = "not a date"
    path = write(frame, tmp_path / "items.csv")
    report = load_catalog(con, [path], max_bad_fraction=1.0)
    assert (report.rows_loaded, report.rows_quarantined) == (1, 6)
    reasons = dict(con.execute("SELECT source_row, reason FROM quarantine ORDER BY 1").fetchall())
    assert reasons == {
        1: "catalog: missing item_id",
        2: "catalog: item_id breaks the id rule: text without control characters or commas, and without "
        "a space at either end",
        3: "catalog: category breaks the id rule (parts joined by /)",
        4: "catalog: absurd price",
        5: "catalog: unparseable available",
        7: "catalog: unparseable created_at",
    }
    assert [(i.item_id, i.available) for i in current_items(con)] == [("i5", False)]


def test_a_file_over_the_bad_fraction_fails_and_stores_nothing(con, tmp_path):
    good = write(items(3), tmp_path / "good.csv")
    bad = write(items(3, item_id=["", "x", "y"], price=[1, -1, -1]), tmp_path / "bad.csv")
    with pytest.raises(IngestError, match=r"bad\.csv: 3 of 3 rows are bad \(100\.0%\)"):
        load_catalog(con, [good, bad])
    assert con.execute("SELECT count(*) FROM catalog_items").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM catalog_files").fetchone()[0] == 0


def test_a_file_without_item_ids_is_refused_naming_the_column(con, tmp_path):
    path = write(items(2).drop(columns="item_id"), tmp_path / "items.csv")
    with pytest.raises(IngestError, match="items.csv: missing required column item_id"):
        load_catalog(con, [path])


def test_a_map_of_an_unknown_column_is_refused(con, tmp_path):
    with pytest.raises(IngestError, match="catalog column map keys must be"):
        load_catalog(con, [write(items(), tmp_path / "i.csv")], {"colour": "Farbe"})


def test_the_same_bytes_load_once_and_a_changed_file_is_a_new_version(con, tmp_path):
    path = write(items(3), tmp_path / "items.csv")
    load_catalog(con, [path])
    again = load_catalog(con, [path])
    assert (again.files_loaded, again.files_skipped) == ([], [str(path)])
    write(items(2, available=[True, False], name=["Item 0", "Renamed"]), path)
    changed = load_catalog(con, [path])
    assert changed.files_loaded == [str(path)] and changed.unavailable == 1
    current = {i.item_id: (i.name, i.available) for i in current_items(con)}
    # i2 is absent from the new file: it keeps its entry of the first load
    assert current == {"i0": ("Item 0", True), "i1": ("Renamed", False), "i2": ("Item 2", True)}
    loads = con.execute("SELECT load_id, rows_loaded FROM catalog_files ORDER BY 1").fetchall()
    assert loads == [(1, 3), (2, 2)]


def test_event_items_missing_from_the_catalog_are_reported_not_dropped(con, tmp_path):
    ingest(con, [write(events(4), tmp_path / "events.parquet")])  # items i0..i3
    report = load_catalog(con, [write(items(2), tmp_path / "items.csv")])
    assert (report.not_in_catalog, report.not_in_catalog_sample) == (2, ["i2", "i3"])
    assert con.execute("SELECT count(DISTINCT item_id) FROM raw_events").fetchone()[0] == 4
    assert describe_catalog(con).not_in_catalog == 2


def test_an_s3_catalog_loads_and_reloads_idempotently(con, tmp_path, bucket):
    s3, name = bucket
    s3.upload_file(str(write(items(3), tmp_path / "items.parquet")), name, "catalog/items.parquet")
    report = load_catalog(con, [f"s3://{name}/catalog/"], s3_client=lambda: s3)
    assert (report.files_loaded, report.items) == ([f"s3://{name}/catalog/items.parquet"], 3)
    again = load_catalog(con, [f"s3://{name}/catalog/"], s3_client=lambda: s3)
    assert again.files_skipped == [f"s3://{name}/catalog/items.parquet"]


def test_cli_loads_a_catalog_with_a_map_and_prints_json(tmp_path, capsys):
    frame = pd.DataFrame({"code": ["#1/é", "b"], "title": ["One", "Two"]})
    path = write(frame, tmp_path / "shop[1].csv")  # a bracket is taken literally, never as a glob
    db = tmp_path / "w.duckdb"
    assert cli.main(["catalog", str(path), "--db", str(db), "--map", "item_id=code", "--map", "name=title",
                     "--json"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["rows_loaded"], summary["items"]) == (2, 2)
    assert cli.main(["catalog", str(path), "--db", str(db), "--map", "shop=x"]) == 1
    assert "catalog column map keys must be" in capsys.readouterr().err
