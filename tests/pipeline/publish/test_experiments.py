"""Experiments between published versions, canary publishes and their guards, on the real moto server."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

import contract
from pipeline.cli import main
from pipeline.publish import experiments, registry, versions
from pipeline.publish.experiments import CanaryPlan, ExperimentError
from tests.pipeline.publish.fixtures import (
    api_client,
    expected_user_list,
    make_precomputed,
    pointer_version,
    run_publish,
    version_rows_in_table,
)


@pytest.fixture
def table(dynamodb, table_name, local_aws, monkeypatch):
    """v1 and v2 published (v2 served); the CLI's settings point at their table."""
    monkeypatch.setenv("RECS_TABLE_NAME", table_name)
    monkeypatch.setenv("RECS_AWS_ENDPOINT_URL", local_aws.endpoint_url)
    for seed, version in enumerate(["v1", "v2"]):
        run_publish(dynamodb, table_name, version, _pre(seed))
    return table_name


def _pre(seed: int):
    """A version's lists for the same 40 users (their lists differ by ``seed``)."""
    users = make_precomputed(40, 30, 6, seed=0, segments=()).user_ids
    return replace(make_precomputed(40, 30, 6, seed=seed, segments=()), user_ids=users)


def _until(condition, seconds: float = 10.0):
    """Wait on ``condition`` (polled), never a fixed sleep; its last value."""
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return value


def test_start_stores_the_experiment_and_its_history(dynamodb, table):
    started = experiments.start(dynamodb, table, "v2", "v1", 0.3, "tuned", hours=48)
    current = registry.current_experiment(dynamodb, table)
    assert current == started and current.running
    assert (current.control, current.treatment, current.share, current.control_k, current.treatment_k) == (
        "v2", "v1", 0.3, 6, 6,
    )  # fmt: skip
    assert current.ends_at == pytest.approx(current.started_at + 48 * 3600)
    history = dynamodb.get_item(TableName=table, Key=contract.row_key(contract.EXPERIMENT_PK, "run#tuned"))
    assert contract.decode_experiment(history["Item"]) == started


@pytest.mark.parametrize(
    ("control", "treatment", "share", "name", "rule"),
    [
        ("v2", "v9", 0.5, "a", "treatment version 'v9' was never published"),
        ("v2", "v1", 0.0, "a", "share must be a number strictly between 0 and 1"),
        ("v2", "v1", 1.0, "a", "share must be a number strictly between 0 and 1"),
        ("v2", "v1", float("nan"), "a", "share must be a number strictly between 0 and 1"),
        ("v2", "v1", 0.5, "a,b", "must be text without control characters or commas"),
    ],
)
def test_bad_starts_are_clear_errors_that_change_nothing(
    dynamodb, table, control, treatment, share, name, rule
):
    with pytest.raises(ExperimentError, match=rule):
        experiments.start(dynamodb, table, control, treatment, share, name)
    assert registry.current_experiment(dynamodb, table) is None


def test_a_retired_version_cannot_serve_an_arm(dynamodb, table):
    registry.set_status(dynamodb, table, "v1", "retired")
    with pytest.raises(ExperimentError, match="treatment version v1 of table .* is retired"):
        experiments.start(dynamodb, table, "v2", "v1", 0.5)
    assert registry.current_experiment(dynamodb, table) is None


def test_a_second_experiment_and_a_reused_name_are_refused(dynamodb, table):
    first = experiments.start(dynamodb, table, "v2", "v1", 0.5, "first")
    with pytest.raises(ExperimentError, match="experiment first is already running .* stop it first"):
        experiments.start(dynamodb, table, "v2", "v1", 0.2, "second")
    assert registry.current_experiment(dynamodb, table) == first
    experiments.stop(dynamodb, table)
    with pytest.raises(ExperimentError, match="an experiment named first already ran"):
        experiments.start(dynamodb, table, "v2", "v1", 0.5, "first")
    assert registry.current_experiment(dynamodb, table).status == "stopped"


def test_retention_never_retires_a_version_a_running_experiment_serves(dynamodb, table):
    experiments.start(dynamodb, table, "v2", "v1", 0.5)
    assert registry.retire_old_versions(dynamodb, table, keep=1) == []
    experiments.stop(dynamodb, table)
    assert registry.retire_old_versions(dynamodb, table, keep=1) == ["v1"]


def test_rollback_and_a_pointer_publish_refuse_while_an_experiment_runs(dynamodb, table):
    experiments.start(dynamodb, table, "v2", "v1", 0.5, "ab")
    with pytest.raises(ExperimentError, match="rollback to v1 refused: experiment ab is running"):
        versions.rollback(dynamodb, table)
    with pytest.raises(ExperimentError, match="publishing v3 as the served version refused: experiment ab"):
        run_publish(dynamodb, table, "v3", _pre(3))
    assert pointer_version(dynamodb, table) == "v2"
    assert registry.registry_entry(dynamodb, table, "v3") is None  # refused before a row was written
    assert version_rows_in_table(dynamodb, table, "v3") == []
    with pytest.raises(ExperimentError, match="publishing v3 as a canary refused"):
        run_publish(dynamodb, table, "v3", _pre(3), canary=CanaryPlan(0.2, 24))


def test_stop_without_promotion_keeps_the_pointer(dynamodb, table):
    experiments.start(dynamodb, table, "v2", "v1", 0.5, "ab")
    done = experiments.stop(dynamodb, table)
    assert (done.serving, done.experiment.status, done.experiment.promoted) == ("v2", "stopped", None)
    with pytest.raises(ExperimentError, match="no experiment is running"):
        experiments.stop(dynamodb, table, "treatment")
    assert pointer_version(dynamodb, table) == "v2"


def test_a_canary_publish_serves_a_share_and_keeps_the_pointer_then_promotes(dynamodb, table):
    report = run_publish(dynamodb, table, "v3", _pre(3), canary=CanaryPlan(0.2, 24), keep_versions=2)
    assert (report.flipped, report.retired) == (False, ())  # v1 (previous), v2 (served), v3 (canary) kept
    canary = registry.current_experiment(dynamodb, table)
    assert (canary.kind, canary.control, canary.treatment, canary.share) == ("canary", "v2", "v3", 0.2)
    assert canary.ends_at == pytest.approx(canary.started_at + 24 * 3600)
    assert pointer_version(dynamodb, table) == "v2"
    assert registry.registry_entry(dynamodb, table, "v3").status == "published"
    done = experiments.promote(dynamodb, table, expected=canary.name)
    assert (done.serving, done.experiment.promoted) == ("v3", "treatment")
    assert registry.current_pointer(dynamodb, table).previous == "v2"  # a rollback still goes back


def test_a_canary_rolled_back_serves_the_control_again(dynamodb, table):
    run_publish(dynamodb, table, "v3", _pre(3), canary=CanaryPlan(0.5, 1))
    done = experiments.roll_back(dynamodb, table)
    assert (done.serving, done.experiment.promoted, done.experiment.status) == ("v2", "control", "stopped")
    assert experiments.status(dynamodb, table).experiment.promoted == "control"


def test_a_first_publish_as_canary_flips_the_pointer(dynamodb, table_name):
    report = run_publish(dynamodb, table_name, "v1", _pre(0), canary=CanaryPlan(0.5, 1))
    assert report.flipped and pointer_version(dynamodb, table_name) == "v1"
    assert registry.current_experiment(dynamodb, table_name) is None


def test_status_says_when_a_canary_is_due(dynamodb, table):
    started = experiments.start(dynamodb, table, "v2", "v1", 0.5, "ab", hours=1)
    assert not experiments.status(dynamodb, table, now=started.started_at + 10).due
    assert experiments.status(dynamodb, table, now=started.started_at + 3601).due


def test_a_warm_api_serves_each_arm_and_follows_promotion_and_stop_within_its_refresh(
    dynamodb, table, local_aws, monkeypatch
):
    pres = {"v1": _pre(0), "v2": _pre(1)}
    with api_client(monkeypatch, table, local_aws.endpoint_url, pointer_refresh_seconds=0.2) as api:

        def answer(user):
            return api.get(f"/v1/users/{user}/recommendations", params={"k": 3}).json()

        users = pres["v1"].user_ids.tolist()[:20]
        assert {answer(u)["arm"] for u in users} == {None}
        started = experiments.start(dynamodb, table, "v2", "v1", 0.5, "ab")
        assert _until(lambda: answer(users[0])["experiment"] == "ab", 5)  # within the refresh (0.2 s)
        for n, user in enumerate(users):
            body = answer(user)
            arm = started.arm_of(user)
            assert (body["experiment"], body["arm"], body["model_version"]) == (
                "ab",
                arm,
                started.version_of(arm),
            )
            expected = expected_user_list(pres[started.version_of(arm)], n)[:3]
            assert [i["item_id"] for i in body["items"]] == expected
        assert {answer(u)["arm"] for u in users} == {"control", "treatment"}
        similar = api.get(f"/v1/items/{pres['v2'].item_ids[0]}/similar").json()
        assert (similar["experiment"], similar["arm"], similar["model_version"]) == (None, None, "v2")

        experiments.stop(dynamodb, table, "treatment")
        assert _until(lambda: all(answer(u)["arm"] is None for u in users[:3]), 5)
        assert {answer(u)["model_version"] for u in users} == {"v1"}


def test_recs_experiment_start_status_stop(table, capsys):
    assert (
        main(
            ["experiment", "start", "--control", "v2", "--treatment", "v1", "--share", "0.25", "--name", "ab"]
        )
        == 0
    )
    assert "experiment ab running: control v2, treatment v1 for 25% of users" in capsys.readouterr().out
    assert main(["experiment", "status", "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert (state["serving"], state["experiment"]["name"], state["experiment"]["status"]) == (
        "v2",
        "ab",
        "running",
    )
    assert main(["experiment", "start", "--control", "v2", "--treatment", "v1", "--share", "2"]) == 1
    assert "share must be a number strictly between 0 and 1" in capsys.readouterr().err
    assert main(["experiment", "stop", "--promote", "treatment"]) == 0
    assert "experiment ab stopped (promoted treatment); serving v1" in capsys.readouterr().out
    assert main(["experiment", "status"]) == 0
    assert "experiment ab stopped" in capsys.readouterr().out


def test_stop_refuses_when_another_experiment_runs_than_the_one_named(dynamodb, table):
    experiments.start(dynamodb, table, "v2", "v1", 0.5, "ab")
    with pytest.raises(ExperimentError, match="experiment other is not the one running .* \\(ab\\)"):
        experiments.stop(dynamodb, table, "treatment", expected="other")
    assert registry.current_experiment(dynamodb, table).running and pointer_version(dynamodb, table) == "v2"
