"""Rules at serve time, through the app on a real moto table: intraday availability on every answer,
k filled from the stored candidates, the category filter, and `filled`."""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient

import contract
from pipeline.errors import PipelineError
from pipeline.publish.availability import read_availability, set_availability
from tests.lambda_api.api_fixtures import create_table

VERSION = "20261207T000000Z-rules1"
K = 3  # the pointer's k: rows hold K + 2 candidates
CATEGORY = {"a": "home/kitchen", "b": "home/decor", "c": "garden", "d": "home/kitchen", "e": "garden",
            "p": "home/kitchen", "q": "garden", "r": "toys"}  # fmt: skip
LISTS = {
    contract.user_pk("u1"): ("a", "b", "c", "d", "e"),
    contract.item_pk("a"): ("b", "c", "d", "e"),
    contract.popular_pk(): ("p", "a", "q", "b", "r"),
}
REFRESH = 0.3


@pytest.fixture
def table(local_aws, dynamodb):
    name = f"recs-rules-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, name)
    expires = int(time.time()) + 86400
    categories = contract.category_table(CATEGORY.values())
    dynamodb.put_item(TableName=name, Item=contract.encode_category_table(VERSION, categories, expires))
    for pk, ids in LISTS.items():
        scores = tuple(round(1 - n / 10, 2) for n in range(len(ids)))
        ranked = contract.RankedItems(ids, scores, tuple(CATEGORY[i] for i in ids))
        dynamodb.put_item(TableName=name, Item=contract.encode_row(pk, VERSION, ranked, expires, categories))
    dynamodb.put_item(TableName=name, Item=contract.encode_pointer(contract.Pointer(VERSION, K), 0))
    return name


@pytest.fixture
def api(app_for, table):
    return TestClient(
        app_for(table, pointer_refresh_seconds=REFRESH, default_k=K), raise_server_exceptions=False
    )


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [i["item_id"] for i in response.json()["items"]]


def every_answer(api) -> dict[str, list[str]]:
    return {
        "user": ids(api.get("/v1/users/u1/recommendations")),
        "similar": ids(api.get("/v1/items/a/similar")),
        "fallback": ids(api.get("/v1/users/stranger/recommendations")),
        "backfill": ids(api.get("/v1/users/u1/recommendations", params={"exclude": "a,b,c,d,e"})),
    }


def test_an_unavailable_item_leaves_every_answer_within_the_refresh_and_comes_back(api, dynamodb, table):
    before = every_answer(api)
    assert before == {"user": ["a", "b", "c"], "similar": ["b", "c", "d"], "fallback": ["p", "a", "q"],
                      "backfill": ["p", "q", "r"]}  # fmt: skip
    set_availability(dynamodb, table, unavailable=["b", "p", "c"])
    time.sleep(REFRESH + 0.05)
    during = every_answer(api)
    assert during == {"user": ["a", "d", "e"], "similar": ["d", "e"], "fallback": ["a", "q", "r"],
                      "backfill": ["q", "r"]}  # fmt: skip
    assert all(not {"b", "p", "c"} & set(items) for items in during.values())
    set_availability(dynamodb, table, available=["b", "p", "c"])
    time.sleep(REFRESH + 0.05)
    assert every_answer(api) == before


def test_k_is_filled_from_the_candidates_and_a_short_answer_says_so(api, dynamodb, table):
    set_availability(dynamodb, table, unavailable=["a"])
    time.sleep(REFRESH + 0.05)
    body = api.get("/v1/users/u1/recommendations").json()
    assert ([i["item_id"] for i in body["items"]], body["filled"], body["backfilled"]) == (
        ["b", "c", "d"],
        True,
        0,
    )
    similar = api.get("/v1/items/a/similar", params={"category": "garden"}).json()
    assert ([i["item_id"] for i in similar["items"]], similar["filled"]) == (["c", "e"], False)


def test_a_category_filter_keeps_that_category_and_the_paths_below_it(api):
    home = api.get("/v1/users/u1/recommendations", params={"category": "home"}).json()
    assert [i["item_id"] for i in home["items"]] == ["a", "b", "d"] and home["filled"] is True
    kitchen = api.get("/v1/users/u1/recommendations", params={"category": "home/kitchen"}).json()
    # the user's row has two kitchen items; the popular list gives the third, never one of another category
    assert [i["item_id"] for i in kitchen["items"]] == ["a", "d", "p"] and kitchen["backfilled"] == 1
    toys = api.get("/v1/users/u1/recommendations", params={"category": "toys"}).json()
    assert ([i["item_id"] for i in toys["items"]], toys["filled"]) == (["r"], False)
    assert ids(api.get("/v1/users/u1/recommendations", params={"category": "hom"})) == []
    bad = api.get("/v1/users/u1/recommendations", params={"category": "a,b"})
    assert bad.status_code == 422 and "commas" in bad.text


def test_a_known_user_is_never_answered_an_empty_list_while_popular_items_remain(api, dynamodb, table):
    set_availability(dynamodb, table, unavailable=list("abcde"))
    time.sleep(REFRESH + 0.05)
    body = api.get("/v1/users/u1/recommendations").json()
    assert ([i["item_id"] for i in body["items"]], body["backfilled"], body["filled"]) == (
        ["p", "q", "r"],
        3,
        True,
    )


def test_availability_is_split_into_parts_and_read_back_whole(dynamodb, table, monkeypatch):
    monkeypatch.setattr("contract._rules.MAX_PART_BYTES", 200)
    many = [f"item-{n:05d}/é#" for n in range(100)]
    written = set_availability(dynamodb, table, unavailable=many)
    assert len(contract.encode_availability(written)) > 5
    assert read_availability(dynamodb, table).unavailable == frozenset(many)
    fewer = set_availability(dynamodb, table, available=many[:90])
    assert read_availability(dynamodb, table).unavailable == frozenset(many[90:]) == fewer.unavailable


def test_ids_that_break_the_id_rule_are_refused_and_nothing_changes(dynamodb, table):
    set_availability(dynamodb, table, unavailable=["x"])
    with pytest.raises(PipelineError, match=r"--unavailable: item id 'a,b' must be text without"):
        set_availability(dynamodb, table, unavailable=["ok", "a,b"])
    with pytest.raises(PipelineError, match="named both unavailable and available"):
        set_availability(dynamodb, table, unavailable=["y"], available=["y"])
    assert read_availability(dynamodb, table).unavailable == frozenset({"x"})


def test_new_items_are_answered_with_their_reason_and_leave_when_unavailable(api, dynamodb, table):
    expires = int(time.time()) + 86400
    row = contract.encode_row(
        contract.user_pk("explorer"),
        VERSION,
        contract.RankedItems(("a", "n1", "b", "c"), (0.9, 0.5, 0.5, 0.4)),
        expires,
    )
    row[contract.NEW_ATTRIBUTE] = {"S": contract.encode_new([1])}
    dynamodb.put_item(TableName=table, Item=row)
    body = api.get("/v1/users/explorer/recommendations").json()
    assert body["items"] == [
        {"item_id": "a", "score": 0.9},
        {"item_id": "n1", "score": 0.5, "reason": "new"},
        {"item_id": "b", "score": 0.5},
    ]
    set_availability(dynamodb, table, unavailable=["n1"])
    time.sleep(REFRESH + 0.05)
    assert ids(api.get("/v1/users/explorer/recommendations")) == ["a", "b", "c"]


def test_include_metadata_names_items_from_their_cached_rows(app_for, dynamodb, table):
    expires = int(time.time()) + 86400
    for item_id, name in (("a", "Mug, blue"), ("b", "Lamp #1/é")):
        row = contract.encode_row(
            contract.item_pk(item_id), VERSION, contract.RankedItems(("c",), (0.5,)), expires
        )
        row[contract.ABOUT_ATTRIBUTE] = {"S": contract.encode_about(name, CATEGORY[item_id])}
        dynamodb.put_item(TableName=table, Item=row)
    app = app_for(table, pointer_refresh_seconds=60, default_k=K)
    api = TestClient(app, raise_server_exceptions=False)
    body = api.get("/v1/users/u1/recommendations", params={"include": "metadata"}).json()
    assert body["items"] == [
        {"item_id": "a", "score": 1.0, "name": "Mug, blue", "category": "home/kitchen"},
        {"item_id": "b", "score": 0.9, "name": "Lamp #1/é", "category": "home/decor"},
        {"item_id": "c", "score": 0.8},  # no row with a name: nothing added
    ]
    sent: list[int] = []
    app.state.runtime.store._client.meta.events.register("before-send.dynamodb", lambda **_: sent.append(1))
    again = api.get("/v1/users/u1/recommendations", params={"include": "metadata"})
    assert again.json()["items"][0]["name"] == "Mug, blue"
    assert sent == []  # the second answer read nothing: names come from the cached rows
    plain = api.get("/v1/users/u1/recommendations").json()
    assert "name" not in plain["items"][0]
    assert api.get("/v1/users/u1/recommendations", params={"include": "everything"}).status_code == 422
