"""Hostile file names and S3 keys: each file loads exactly once, under its own name, and no key
chooses where its download lands (issue #12, items 1 and 6)."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.data import warehouse
from pipeline.data.ingest import ingest
from tests.pipeline.data.logs import events, write


def one_row(user: str) -> pd.DataFrame:
    return events(1, user_id=[user])


def loaded(con) -> dict[str, list[str]]:
    """Each manifest path and the users its rows carry."""
    rows = con.execute(
        "SELECT m.path, list(r.user_id ORDER BY r.user_id) FROM manifest m "
        "JOIN raw_events r USING (file_id) GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return dict(rows)


def test_glob_characters_in_file_names_are_literal(con, tmp_path):
    names = ["day1.parquet", "day[1].parquet", "a*.parquet", "ab.parquet", "c?.csv", "cx.csv"]
    for n, name in enumerate(names):
        write(one_row(f"user{n}"), tmp_path / "logs" / name)
    report = ingest(con, [tmp_path / "logs"])
    assert report.rows_loaded == 6
    expected = {str(tmp_path / "logs" / name): [f"user{n}"] for n, name in enumerate(names)}
    assert loaded(con) == expected


def test_a_file_named_like_a_pattern_is_that_file(con, tmp_path):
    write(one_row("plain"), tmp_path / "day1.parquet")
    write(one_row("bracketed"), tmp_path / "day[1].parquet")
    ingest(con, [tmp_path / "day[1].parquet"])
    assert loaded(con) == {str(tmp_path / "day[1].parquet"): ["bracketed"]}


def test_a_directory_with_glob_characters_is_read_as_a_directory(con, tmp_path):
    write(one_row("inside"), tmp_path / "run[2026]" / "a.csv")
    write(one_row("decoy"), tmp_path / "run2" / "a.csv")
    ingest(con, [str(tmp_path / "run[2026]")])
    assert loaded(con) == {str(tmp_path / "run[2026]" / "a.csv"): ["inside"]}


def test_s3_keys_cannot_leave_the_download_folder(con, tmp_path, bucket):
    s3, name = bucket
    keys = ["raw/../../../../tmp/escape.csv", "raw//abs/meta.json", "raw/ok.parquet"]
    for n, key in enumerate(keys):
        s3.upload_file(str(write(one_row(f"s3user{n}"), tmp_path / f"src{n}{Path(key).suffix}")), name, key)
    sentinel = tmp_path / "meta.json"
    sentinel.write_text("{}")
    before = set(Path(tempfile.gettempdir()).glob("escape.csv"))
    report = ingest(con, [f"s3://{name}/raw/"], s3_client=lambda: s3)
    assert report.rows_loaded == 3
    assert loaded(con) == {f"s3://{name}/{key}": [f"s3user{n}"] for n, key in enumerate(keys)}
    assert set(Path(tempfile.gettempdir()).glob("escape.csv")) == before  # nothing written outside
    assert sentinel.read_text() == "{}"


# names of any printable ASCII but the path separator, glob and shell characters included
NAME_CHARS = "".join(c for c in string.printable if c not in "/\\\t\n\r\x0b\x0c\x00")
file_names = st.text(alphabet=NAME_CHARS, min_size=1, max_size=24).filter(lambda s: s not in (".", ".."))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stems=st.lists(file_names, min_size=1, max_size=6, unique_by=str.lower),
    suffixes=st.lists(st.sampled_from([".parquet", ".csv", ".jsonl"]), min_size=6, max_size=6),
)
def test_generated_file_names_load_exactly_once_each(tmp_path_factory, stems, suffixes):
    root = tmp_path_factory.mktemp("names")
    paths = [root / "logs" / f"{stem}{suffixes[n]}" for n, stem in enumerate(stems)]
    for n, path in enumerate(paths):
        write(one_row(f"user{n}"), path)
    with warehouse.connect(root / "w.duckdb") as con:
        report = ingest(con, [root / "logs"])
        assert report.rows_loaded == len(paths)
        assert loaded(con) == {str(p): [f"user{n}"] for n, p in enumerate(paths)}
