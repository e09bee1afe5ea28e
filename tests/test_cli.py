"""The `recs` command line: bad input exits non-zero naming the file and the problem, and
changes nothing already stored; `recs run --json` ends with its summary object."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipeline import warehouse
from pipeline.cli import main
from pipeline.synthetic import SyntheticSpec, write_daily
from tests.conftest import SAMPLE


@pytest.fixture
def config(tmp_path):
    """A config whose warehouse already holds one month of the sample."""
    path = tmp_path / "recs.toml"
    top_level = f'warehouse = "{tmp_path / "warehouse.duckdb"}"\nartifacts_dir = "{tmp_path / "artifacts"}"\n'
    path.write_text(top_level + (SAMPLE / "retail.toml").read_text())
    assert main(["ingest", str(SAMPLE / "events" / "2011-01.parquet"), "--config", str(path)]) == 0
    return path


def stored_rows(config) -> int:
    with warehouse.connect(config.parent / "warehouse.duckdb", read_only=True) as con:
        return con.execute("SELECT count(*) FROM raw_events").fetchone()[0]


@pytest.mark.parametrize(
    ("make_input", "problem"),
    [
        (lambda d: d / "missing.parquet", "no such file or directory"),
        (lambda d: _write(d / "no_user.csv", "item_id,event_type,ts\nA,purchase,2011-01-01\n"),
         "missing required column(s) user_id"),
        (lambda d: _write(d / "empty.csv", "user_id,item_id,event_type,ts\n"), "holds no rows"),
        (lambda d: _write(d / "garbage.parquet", "this is not parquet"), "unreadable"),
    ],
    ids=["missing-path", "missing-column", "empty-log", "unreadable-file"],
)
def test_bad_input_exits_non_zero_names_the_file_and_keeps_what_was_stored(
    tmp_path, config, capsys, make_input, problem
):
    before = stored_rows(config)
    bad = make_input(tmp_path)
    status = main(["ingest", str(SAMPLE / "events" / "2011-02.parquet"), str(bad), "--config", str(config)])
    err = capsys.readouterr().err
    assert status != 0
    assert str(bad.name) in err and problem in err, err
    assert stored_rows(config) == before  # the good file given alongside was not half-loaded either


def _write(path, text: str):
    path.write_text(text)
    return path


def test_run_json_ends_with_the_summary_object(tmp_path, capsys, prefect_harness):
    events = tmp_path / "events"
    write_daily(SyntheticSpec(events=20_000, users=800, items=300, days=8, seed=3), events)
    config = tmp_path / "recs.toml"
    config.write_text(
        f'warehouse = "{tmp_path / "w.duckdb"}"\nartifacts_dir = "{tmp_path / "a"}"\n'
        'holdout_days = 2\nk = 10\nsimilar_k = 5\nsegment_column = "country"\n'
    )
    argv = ["run", "--events", str(events), "--config", str(config), "--local-aws", "--json", "--force"]
    status = main(argv)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 0
    assert summary["published"] is True  # --force: published whatever the quality gate said
    assert "ndcg@10" in summary["reason"]
    assert summary["users"] == pd.read_parquet(events)["user_id"].nunique()
    assert summary["rows_published"] >= summary["users"] + summary["items"]
    assert set(summary) >= {"model_version", "users", "items", "rows_published"}
