"""``recs demo`` (what ``make demo`` runs): the whole product once against its own local AWS.

What it prints is checked against what it did: the lists it shows are the rows of the table it
published (and the popular row for the unknown visitor), the impression line counts the answers
it made, the local AWS and the API it started are gone afterwards, and a second run in the same
folder works. Each run trains on the bundled sample (about a minute), so these tests are ``slow``.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

import contract
from infra.local import demo
from infra.local.impressions import read_impressions
from pipeline.model.artifact import saved_versions
from tests.integration.test_replay import assert_all_stopped
from tests.paths import ROOT, SAMPLE

K = 5  # the demo's default: the top 5 of each user
FALLBACK_USER = "new-visitor-0001"
ANSWER = re.compile(r"^user (\S+)  \((personal|fallback), model (\S+), rec_id ([0-9a-f]{8})\)$")
ITEM = re.compile(r"^ +(\d+)\. (\S+) +(.*?) *score (-?\d+\.\d{3})$")
SUMMARY = re.compile(r"^nightly flow: model (\S+), ([\d,]+) users x ([\d,]+) items, ([\d,]+) rows published")
IMPRESSIONS = re.compile(r"^impression log: (\d+) answers in s3://")


@dataclass(frozen=True)
class Shown:
    """One answer as the demo printed it."""

    user_id: str
    source: str
    version: str
    rec_id: str  # its first 8 characters
    items: tuple[tuple[str, str, str], ...]  # (item id, name as printed, score as printed)


def answers_shown(output: str) -> list[Shown]:
    """The answers in the demo's output, in order, each with the item lines under it."""
    shown: list[Shown] = []
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if match := ANSWER.match(line):
            items = []
            for below in lines[i + 1 :]:
                if not (item := ITEM.match(below)):
                    break
                items.append((item.group(2), item.group(3), item.group(4)))
            shown.append(Shown(*match.groups(), items=tuple(items)))
    return shown


def one(pattern: re.Pattern, output: str) -> re.Match:
    found = [m for line in output.splitlines() if (m := pattern.match(line))]
    assert len(found) == 1, f"{pattern.pattern!r}: {len(found)} lines in\n{output[-4000:]}"
    return found[0]


def names() -> dict[str, str]:
    with (SAMPLE / "items.csv").open(newline="", encoding="utf-8") as f:
        return {row["item_id"]: row["name"] for row in csv.DictReader(f)}


def check_output(output: str) -> tuple[str, list[Shown]]:
    """What every demo run prints, checked by value; the model version and the answers shown."""
    version, users, items, rows = one(SUMMARY, output).groups()
    assert (int(users.replace(",", "")), int(items.replace(",", ""))) == (4_317, 3_640)  # the sample
    assert int(rows.replace(",", "")) > int(users.replace(",", "")) + int(items.replace(",", ""))
    shown = answers_shown(output)
    # three real customers, personal, then the unknown visitor on the popular fallback
    assert [(a.user_id == FALLBACK_USER, a.source) for a in shown] == [(False, "personal")] * 3 + [
        (True, "fallback")
    ]
    assert {a.version for a in shown} == {version}
    assert len({a.rec_id for a in shown}) == len(shown)  # every answer its own rec_id
    catalog = names()
    for answer in shown:
        assert [rank for rank, _ in enumerate(answer.items, 1)] == list(range(1, K + 1))
        for item_id, name, _ in answer.items:
            assert name == catalog[item_id][:40].strip(), (item_id, name)
        scores = [float(score) for _, _, score in answer.items]
        assert scores == sorted(scores, reverse=True), answer
    assert int(one(IMPRESSIONS, output).group(1)) == len(shown)  # every answer reached the log
    assert "local AWS and API stopped." in output
    return version, shown


def demo_environment(marker: str, prefect_home: Path) -> dict[str, str]:
    """A fresh process's environment: its own Prefect home, no Prefect API from the test session."""
    env = {**os.environ, "RECS_DEMO_TEST": marker, "PREFECT_HOME": str(prefect_home)}
    env |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONUNBUFFERED": "1"}
    env.pop("PREFECT_API_URL", None)
    for name in ("AWS_ENDPOINT_URL", "RECS_TABLE_NAME"):  # the demo sets up its own
        env.pop(name, None)
    return env


def run_recs_demo(workdir: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "demo", "--workdir", str(workdir)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,  # a generous ceiling: about a minute on an idle laptop
    )
    assert done.returncode == 0, done.stdout[-4000:]
    return done.stdout


def assert_gone(output: str, marker: str) -> None:
    """Neither the local AWS nor the API the run printed answers, and no process of it is left."""
    moto = re.search(r"local AWS \(moto\) at (http://127\.0\.0\.1:\d+)", output).group(1)
    api = re.search(r"API on (http://127\.0\.0\.1:\d+);", output).group(1)
    assert_all_stopped([f"{moto}/moto-api/", f"{api}/health"], marker)


@pytest.mark.slow  # two whole `recs demo` processes: their own Prefect server, moto, a search, uvicorn
def test_recs_demo_runs_twice_in_one_folder_and_leaves_nothing_running(tmp_path):
    marker = uuid.uuid4().hex
    env, workdir = demo_environment(marker, tmp_path / "prefect"), tmp_path / "demo"

    first = run_recs_demo(workdir, env)
    first_version, _ = check_output(first)
    assert_gone(first, marker)
    assert saved_versions(workdir / "artifacts") == [first_version]
    assert (workdir / "artifacts" / "index.html").is_file() and (workdir / "warehouse.duckdb").is_file()

    second = run_recs_demo(workdir, env)  # the same folder, with the first run's files in it
    second_version, _ = check_output(second)
    assert_gone(second, marker)
    assert second_version != first_version
    assert saved_versions(workdir / "artifacts") == [second_version]  # each run starts the folder afresh


@dataclass
class Seen:
    """What the table and the impression log held while the demo's API was up."""

    version: str = ""
    rows: dict[str, contract.RankedItems] | None = None  # by pk, under the served version
    impressions: list[contract.Impression] | None = None


def watch_table(seen: Seen):
    """``serve_api`` as the demo uses it, reading the table as the API starts and the log as it stops."""
    real = demo.serve_api

    @contextmanager
    def serve_and_read(env: dict[str, str], *args, **kwargs):
        dynamodb, table = boto3.client("dynamodb"), env["RECS_TABLE_NAME"]
        current = dynamodb.get_item(TableName=table, Key=contract.POINTER_KEY)["Item"]
        pointer = contract.decode_pointer(current)
        seen.version, seen.rows = pointer.version, {}
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                pk = item[contract.PARTITION_KEY]["S"]
                if item[contract.SORT_KEY]["S"] == pointer.version and not pk.startswith("meta#"):
                    seen.rows[pk] = contract.decode_row(item)
        with real(env, *args, **kwargs) as base_url:
            yield base_url
        seen.impressions = read_impressions(boto3.client("s3"), demo.IMPRESSION_BUCKET)

    return serve_and_read


@pytest.mark.slow  # a whole demo run: the flow on the bundled sample, with a search
def test_the_lists_the_demo_prints_are_the_rows_of_its_table(tmp_path, prefect_harness, monkeypatch, capsys):
    seen = Seen()
    monkeypatch.setattr(demo, "serve_api", watch_table(seen))
    demo.run_demo(tmp_path / "demo", k=K)
    output = capsys.readouterr().out
    version, shown = check_output(output)

    assert seen.version == version
    assert len(seen.rows) == int(one(SUMMARY, output).group(4).replace(",", ""))  # the rows it says
    for answer in shown:
        pk = contract.popular_pk() if answer.source == "fallback" else contract.user_pk(answer.user_id)
        row = seen.rows[pk]
        assert [item_id for item_id, _, _ in answer.items] == list(row.item_ids[:K]), answer.user_id
        assert [score for _, _, score in answer.items] == [f"{s:.3f}" for s in row.scores[:K]]
    # the log holds exactly the answers shown: their rec_ids, users and items
    logged = {i.rec_id[:8]: i for i in seen.impressions}
    assert sorted(logged) == sorted(a.rec_id for a in shown)
    for answer in shown:
        record = logged[answer.rec_id]
        assert (record.user_id, record.version, record.source) == (answer.user_id, version, answer.source)
        assert list(record.items[:K]) == [item_id for item_id, _, _ in answer.items]
    assert FALLBACK_USER not in {pk.removeprefix("user#") for pk in seen.rows}
