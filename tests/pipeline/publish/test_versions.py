"""``recs versions``, ``recs rollback`` and ``recs show-user`` against the real moto server."""

from __future__ import annotations

import json

import pytest

import contract
from pipeline.cli import main
from pipeline.publish import versions, writer
from tests.pipeline.publish.fixtures import expected_user_list, make_precomputed, pointer_version

METRICS = {"model": {"ndcg@5": 0.2, "ndcg@10": 0.25, "recall@10": 0.5}}  # as evaluation.overall stores them


@pytest.fixture
def published(dynamodb, table_name, local_aws, monkeypatch):
    """Two published versions (v2 served), and the CLI's settings pointed at their table."""
    monkeypatch.setenv("RECS_TABLE_NAME", table_name)
    monkeypatch.setenv("RECS_AWS_ENDPOINT_URL", local_aws.endpoint_url)
    pres = {v: make_precomputed(8, 6, 4, seed=s) for s, v in enumerate(["v1", "v2"])}
    for version, pre in pres.items():
        writer.publish(dynamodb, table_name, version, pre, METRICS, ttl_days=2)
    return pres


def test_versions_lists_each_version_with_its_status_rows_and_metrics(published, table_name, dynamodb):
    found = versions.list_versions(dynamodb, table_name)
    assert [(v.version, v.status, v.serving) for v in found] == [
        ("v2", "published", True),
        ("v1", "published", False),
    ]
    assert found[0].rows == found[0].rows_done == published["v2"].n_rows
    assert found[0].metrics == METRICS and found[0].k == 4


def test_recs_versions_prints_one_line_per_version_marking_the_served_one(published, capsys):
    assert main(["versions"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("* v2  published") and lines[1].startswith("  v1  published")
    assert f"rows {published['v2'].n_rows}/{published['v2'].n_rows}  k 4  ndcg@10 0.2500  expires" in lines[0]
    assert main(["versions", "--json"]) == 0
    assert [json.loads(line)["version"] for line in capsys.readouterr().out.splitlines()] == ["v2", "v1"]


@pytest.mark.parametrize(
    ("metrics", "shown"),
    [
        ({"model": {"ndcg@20": 0.3, "ndcg@5": 0.125}}, "ndcg@5 0.1250"),  # no ndcg@10: the smallest k
        ({"model": {"ndcg@10": 0.1, "ndcg@10_ci95": 0.01}}, "ndcg@10 0.1000"),
        ({}, "ndcg -"),
    ],
)
def test_the_version_line_shows_the_stored_ndcg_key(metrics, shown):
    entry = versions.VersionInfo("v", "published", False, 1, 1, 4, 0.0, None, 0, metrics)
    assert f"k 4  {shown}  expires" in entry.line()


def test_recs_rollback_flips_back_and_forth(published, table_name, dynamodb, capsys):
    assert main(["rollback"]) == 0
    assert capsys.readouterr().out.strip() == f"table {table_name}: now serving v1 (was v2)"
    assert pointer_version(dynamodb, table_name) == "v1"
    assert main(["rollback", "--to", "v2"]) == 0
    assert pointer_version(dynamodb, table_name) == "v2"


def test_recs_rollback_to_an_unknown_version_is_an_error_that_touches_nothing(
    published, table_name, dynamodb, capsys
):
    assert main(["rollback", "--to", "v7"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"recs rollback: error: version v7 was never published to table {table_name}"
    )
    assert pointer_version(dynamodb, table_name) == "v2"


def test_recs_show_user_prints_what_the_api_answers(published, capsys):
    pre = published["v2"]
    assert main(["show-user", pre.user_ids[3], "--k", "3"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["model_version"] == "v2" and shown["source"] == "personal"
    assert [i["item_id"] for i in shown["items"]] == expected_user_list(pre, 3)[:3]
    assert main(["show-user", "someone-new"]) == 0
    assert json.loads(capsys.readouterr().out)["source"] == "fallback"


def test_recs_versions_on_a_missing_table_names_it(monkeypatch, local_aws, table_name, capsys):
    monkeypatch.setenv("RECS_TABLE_NAME", table_name)
    monkeypatch.setenv("RECS_AWS_ENDPOINT_URL", local_aws.endpoint_url)
    assert main(["versions"]) == 1
    assert f"DynamoDB table {table_name} does not exist" in capsys.readouterr().err


HOSTILE_IDS = [
    "a,b",
    " 18227",
    "18227 ",
    "\x1b[31mred",
    "a\nb",
    "tab\tid",
    "",
    "x" * 3000,
    "\u200b\x00",
]


@pytest.mark.parametrize("bad", HOSTILE_IDS, ids=repr)
def test_recs_show_user_refuses_an_id_the_api_refuses_before_reading_anything(bad, capsys):
    with pytest.raises(SystemExit) as stop:  # argparse's usage error: no settings, no table read
        main(["show-user", bad])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    problem = contract.id_problem(bad)
    assert problem and f"argument user_id: user id {repr(bad[:40])}" in err and problem in err
    assert "the API answers 422" in err
    assert "\x1b" not in err and "\x00" not in err and len(err) < 800  # escaped, shortened, never echoed raw


@pytest.mark.parametrize("odd", ["user@example.com", "a/b", "#1", "ünï cödé", "名前", "x" * 256])
def test_recs_show_user_takes_every_id_the_api_takes(published, odd, capsys):
    assert contract.id_problem(odd) is None
    assert main(["show-user", odd]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["user_id"] == odd and shown["source"] == "fallback"


@pytest.mark.parametrize(
    ("k", "said"),
    [("0", "k must be from 1 to 200, got 0"), ("201", "got 201"), ("-3", "got -3"), ("five", "whole number")],
)
def test_recs_show_user_holds_k_to_the_api_bounds(k, said, capsys):
    with pytest.raises(SystemExit):
        main(["show-user", "18227", f"--k={k}"])
    assert said in capsys.readouterr().err


def test_recs_show_user_segment_follows_the_id_rule_and_picks_the_fallback(published, capsys):
    with pytest.raises(SystemExit):
        main(["show-user", "new", "--segment", "France,Spain"])
    assert "argument --segment: segment 'France,Spain' must be" in capsys.readouterr().err
    assert main(["show-user", "someone-new", "--segment", "nowhere", "--k", "2"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["segment"] == "global" and len(shown["items"]) == 2
