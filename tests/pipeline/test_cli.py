"""The `recs` command line: bad input exits non-zero naming the file and the problem, and
changes nothing already stored; `recs run --json` ends with its summary object."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from infra.local.synthetic import SyntheticSpec, write_daily
from pipeline import cli
from pipeline.cli import main
from pipeline.data import warehouse
from tests.paths import SAMPLE
from tests.pipeline.data.logs import counts, events, write


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
        (
            lambda d: _write(d / "no_user.csv", "item_id,event_type,ts\nA,purchase,2011-01-01\n"),
            "missing required column(s) user_id",
        ),
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


def test_cli_json_summary_and_idempotent_rerun(tmp_path, capsys):
    path = write(events(4).rename(columns={"user_id": "customer"}), tmp_path / "day1.parquet")
    argv = ["ingest", str(path), "--db", str(tmp_path / "w.duckdb"), "--map", "user_id=customer", "--json"]
    assert cli.main(argv) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {k: first[k] for k in ("files_loaded", "files_skipped", "rows_loaded", "rows_quarantined")} == {
        "files_loaded": 1,
        "files_skipped": 0,
        "rows_loaded": 4,
        "rows_quarantined": 0,
    }
    assert cli.main(argv) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (second["files_loaded"], second["files_skipped"], second["rows_loaded"]) == (0, 1, 0)


def test_cli_fails_with_status_1_naming_the_bad_file_and_stores_nothing(tmp_path, capsys):
    good = write(events(4), tmp_path / "a.parquet")
    bad = write(events(4).drop(columns=["item_id"]), tmp_path / "b.parquet")
    db = tmp_path / "w.duckdb"
    assert cli.main(["ingest", str(good), str(bad), "--db", str(db), "--json"]) == 1
    err = capsys.readouterr().err
    assert f"recs ingest: error: {bad}: missing required column(s) item_id" in err
    with warehouse.connect(db, read_only=True) as con:
        assert counts(con) == (0, 0, 0)


def test_cli_rejects_a_map_of_an_unknown_column(tmp_path, capsys):
    path = write(events(2), tmp_path / "a.parquet")
    assert cli.main(["ingest", str(path), "--db", str(tmp_path / "w.duckdb"), "--map", "shop=Store"]) == 1
    assert "column_map keys must be event columns" in capsys.readouterr().err


def test_every_command_has_an_example_and_every_option_a_help_text():
    root = cli.parser()
    [sub] = [a for a in root._actions if a.dest == "command"]
    for name, command in sub.choices.items():
        assert name in cli.EXAMPLES and command.epilog and name in command.epilog, name
        for action in command._actions:
            assert action.help, f"recs {name} {action.option_strings or action.dest} has no help"


def test_recs_version_names_the_installed_package(capsys):
    from importlib import metadata

    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"recs {metadata.version('recs')}"
