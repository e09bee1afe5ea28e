"""Answers under a running experiment: the arm's version, named in the body and in the impression."""

from __future__ import annotations

import time

import pytest

import contract
from pipeline.feedback import records
from tests.lambda_api.api_fixtures import USERS, create_table, put_version

TREATED_POPULAR = {"global": (("T1", "T2", "T3", "T4", "T5"), (0.5, 0.4, 0.3, 0.2, 0.1))}


@pytest.fixture
def ab_table(dynamodb, table_name):
    """v1 (served) and v2 (other popular list) in one table, and a 50/50 experiment between them."""
    create_table(dynamodb, table_name)
    put_version(dynamodb, table_name, "v2", popular=TREATED_POPULAR)
    put_version(dynamodb, table_name, "v1")  # the pointer ends on v1
    experiment = contract.Experiment("ab", "v1", "v2", 0.5, "salt-1", time.time(), control_k=5, treatment_k=5)
    dynamodb.put_item(TableName=table_name, Item=contract.encode_experiment(experiment))
    return table_name, experiment


def _users_of(experiment, arm, n=3):
    return [u for u in (f"stranger-{i}" for i in range(100)) if experiment.arm_of(u) == arm][:n]


def test_unknown_users_get_the_popular_list_of_their_arms_version(app_for, ab_table, capsys):
    from fastapi.testclient import TestClient

    table, experiment = ab_table
    api = TestClient(app_for(table))
    capsys.readouterr()
    for arm, first in (("treatment", "T1"), ("control", "85123A")):
        for user in _users_of(experiment, arm):
            body = api.get(f"/v1/users/{user}/recommendations", params={"k": 2}).json()
            assert (body["experiment"], body["arm"], body["model_version"]) == (
                "ab",
                arm,
                experiment.version_of(arm),
            )
            assert (body["source"], body["items"][0]["item_id"]) == ("fallback", first)
    parsed = records.parse_object(capsys.readouterr().out.encode())
    assert [(r.experiment, r.arm, r.version) for r in parsed.records] == [("ab", "treatment", "v2")] * 3 + [
        ("ab", "control", "v1")
    ] * 3


def test_a_short_personal_list_is_backfilled_from_the_arms_version(app_for, ab_table):
    from fastapi.testclient import TestClient

    table, experiment = ab_table
    user = "user@example.com"  # two items of its own in both versions
    body = TestClient(app_for(table)).get(f"/v1/users/{user}/recommendations", params={"k": 4}).json()
    arm = experiment.arm_of(user)
    own = list(USERS[user][0])
    extra = ["T1", "T2"] if arm == "treatment" else ["85123A", "47566"]
    assert [i["item_id"] for i in body["items"]] == own + extra and body["backfilled"] == 2


def test_a_stopped_experiment_answers_from_the_pointer_with_null_arm(app_for, ab_table, dynamodb):
    from fastapi.testclient import TestClient

    table, experiment = ab_table
    stopped = contract.Experiment("ab", "v1", "v2", 0.5, "salt-1", 0.0, "stopped", stopped_at=1.0)
    dynamodb.put_item(TableName=table, Item=contract.encode_experiment(stopped))
    user = _users_of(experiment, "treatment", 1)[0]
    body = TestClient(app_for(table)).get(f"/v1/users/{user}/recommendations").json()
    assert (body["experiment"], body["arm"], body["model_version"]) == (None, None, "v1")


def test_a_broken_experiment_item_is_logged_and_the_pointer_answers(app_for, ab_table, dynamodb, caplog):
    from fastapi.testclient import TestClient

    table, _ = ab_table
    item = contract.encode_experiment(contract.Experiment("ab", "v1", "v2", 0.5, "salt", 0.0))
    item["share"] = {"N": "7"}
    dynamodb.put_item(TableName=table, Item=item)
    body = TestClient(app_for(table)).get("/v1/users/12347/recommendations").json()
    assert (body["arm"], body["model_version"]) == (None, "v1")
    assert "the experiment item of table" in caplog.text and "share must be" in caplog.text
