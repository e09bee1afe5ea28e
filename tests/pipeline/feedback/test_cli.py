"""`recs feedback`: loads and measures, prints a table or one JSON object, refuses bad input clearly."""

from __future__ import annotations

import json

import pytest

from pipeline.cli import main
from pipeline.data import warehouse
from tests.pipeline.feedback.logs import envelope, firehose_object, json_lines, put, record


@pytest.fixture
def logs(tmp_path):
    answers = [
        record(1, user="u1", items=["a", "b"], experiment="e", arm="control"),
        record(2, user="u2", items=["a"], experiment="e", arm="treatment", version="v2"),
    ]
    impressions = put(tmp_path / "log/2026/12/07/18/obj", firehose_object([envelope(answers)]))
    events = put(
        tmp_path / "events.jsonl",
        json_lines(
            [
                {
                    "user_id": "u1",
                    "item_id": "b",
                    "event_type": "view",
                    "ts": "2026-12-07T18:05:00Z",
                    "rec_id": "r1",
                },
                {
                    "user_id": "u9",
                    "item_id": "b",
                    "event_type": "view",
                    "ts": "2026-12-07T18:05:00Z",
                    "rec_id": "r#9",
                },
            ]
        ),
    )
    db = tmp_path / "w.duckdb"
    assert main(["ingest", str(events), "--db", str(db)]) == 0
    return impressions.parent.parent.parent.parent.parent, db


def test_json_holds_the_groups_and_the_experiment(logs, capsys):
    impressions, db = logs
    assert (
        main(["feedback", "--db", str(db), "--impressions", str(impressions), "--share", "e=0.5", "--json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["impressions_loaded"]["records"] == 2
    versions = {
        g["key"]["version"]: g["ctr"]["value"]
        for g in out["online"]["groups"]
        if g["grouping"] == ["version"]
    }
    assert versions == {"v1": 1.0, "v2": 0.0}
    assert out["online"]["events"]["with_unknown_rec_id"] == 1
    (experiment,) = out["experiments"]
    assert experiment["experiment"] == "e" and experiment["sample_ratio"]["expected_share"] == 0.5


def test_text_is_the_report_section_and_since_filters(logs, capsys):
    impressions, db = logs
    assert main(["feedback", "--db", str(db), "--impressions", str(impressions)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("## Online: what users did next (attribution window 24.0 h)")
    assert "| v1 | 1 | 1 | 1.0000" in text and "### Experiment e: no winner on ctr" in text
    assert main(["feedback", "--db", str(db), "--since", "2026-12-08T00:00:00+01:00", "--json"]) == 0
    later = json.loads(capsys.readouterr().out)
    assert later["online"]["groups"] == [] and later["online"]["since"] == "2026-12-07T23:00:00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last tuesday"], "'last tuesday' is not an ISO date or time"),
        (["--share", "e=1.5"], "'e=1.5': expected EXPERIMENT=SHARE with a share in (0, 1)"),
        (["--share", "0.5"], "'0.5': expected EXPERIMENT=SHARE"),
    ],
)
def test_bad_arguments_exit_2_naming_the_rule(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exited:
        main(["feedback", "--db", str(tmp_path / "w.duckdb"), *args])
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_a_warehouse_without_impressions_is_a_clear_error_that_changes_nothing(tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    warehouse.connect(db).close()
    assert main(["feedback", "--db", str(db)]) == 1
    assert (
        "holds no impressions: load the log with `recs feedback --impressions URI`" in capsys.readouterr().err
    )
    with warehouse.connect(db, read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "impressions" not in tables
