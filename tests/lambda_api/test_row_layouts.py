"""Row layouts: the same version written in layout 1 (JSON arrays, category paths on every row, as
before rows were fitted to one write unit) and in layout 2 (comma-joined ids and scores, category
codes into the version's table) gives the API the very same answers, so a version written by the
old pipeline is served (and rolled back to) as before, and a new one changes no answer."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
from botocore.awsrequest import AWSResponse
from fastapi.testclient import TestClient

import contract
from benchmarks.row_codec import layout_1_rows  # a frozen copy of the layout-1 encoder
from pipeline.model import train
from pipeline.precompute import recommend
from pipeline.publish import writer
from pipeline.publish.availability import set_availability
from pipeline.publish.dynamo import write_rows
from pipeline.settings import ALSParams
from tests.lambda_api.api_fixtures import create_table
from tests.lambda_api.faults import _Body
from tests.model_data import synthetic_interactions
from tests.pipeline.precompute.test_rules import precomputed

VERSION = "20261207T000000Z-layout"
K = 5
CATEGORIES = ("home/kitchen", "home/decor", "garden", "toys/é #1", "food/tea")


@pytest.fixture(scope="module")
def pre() -> recommend.Precomputed:
    data = synthetic_interactions()
    model = train.fit(data, ALSParams(factors=8, iterations=3), use_gpu=False)
    n = data.shape[1]
    categories = np.array([CATEGORIES[j % 5] if j % 11 else None for j in range(n)], dtype=object)
    names = np.array([f"Item {j}" if j % 3 else None for j in range(n)], dtype=object)
    made = precomputed(data, model, k=K, spare=5, categories=categories)
    return recommend.Precomputed(**{**made.__dict__, "names": names})


@pytest.fixture(scope="module")
def tables(local_aws, dynamodb, pre) -> dict[int, str]:
    expires = int(time.time()) + 86400
    made = {}
    for layout in (1, 2):
        name = f"recs-layout{layout}-{uuid.uuid4().hex[:8]}"
        create_table(dynamodb, name)
        if layout == 2:
            writer.put_category_table(dynamodb, name, VERSION, pre, expires)
        rows = (
            layout_1_rows(VERSION, pre, expires)
            if layout == 1
            else writer.version_rows(VERSION, pre, expires)
        )
        assert write_rows(dynamodb, name, rows) == pre.n_rows
        dynamodb.put_item(TableName=name, Item=contract.encode_pointer(contract.Pointer(VERSION, K), 0))
        set_availability(dynamodb, name, unavailable=pre.item_ids[[3, 10, 40]].tolist())
        made[layout] = name
    return made


def answers(api: TestClient, pre: recommend.Precomputed) -> list:
    """Every kind of answer, for a sample of users and items, without the per-answer rec_id."""
    got = []
    users = pre.user_ids[::7].tolist() + ["stranger"]
    for user in users:
        for params in ({}, {"category": "home"}, {"category": "toys/é #1"}, {"k": 3, "include": "metadata"}):
            got.append(api.get(f"/v1/users/{user}/recommendations", params=params))
        first = got[-4].json()["items"][:2]
        got.append(
            api.get(
                f"/v1/users/{user}/recommendations", params={"exclude": ",".join(i["item_id"] for i in first)}
            )
        )
    for item in pre.item_ids[::9].tolist():
        got.append(api.get(f"/v1/items/{item}/similar", params={"category": "garden"}))
        got.append(api.get(f"/v1/items/{item}/similar", params={"include": "metadata"}))
    assert all(r.status_code == 200 for r in got), [r.text for r in got if r.status_code != 200][:2]
    return [{k: v for k, v in r.json().items() if k != "rec_id"} for r in got]


def test_both_layouts_give_the_same_answers(app_for, tables, pre, dynamodb):
    by_layout = {
        layout: answers(TestClient(app_for(name, default_k=K), raise_server_exceptions=False), pre)
        for layout, name in tables.items()
    }
    assert by_layout[1] == by_layout[2]
    served = by_layout[2]
    assert len(served) > 300
    # the answers exercise what the layouts differ in: categories, partial fills, names
    assert any(a.get("filled") is False for a in served)
    assert any(i.get("category") == "toys/é #1" for a in served for i in a["items"])
    assert {i["item_id"] for a in served for i in a["items"]}.isdisjoint(pre.item_ids[[3, 10, 40]].tolist())


def test_layout_2_rows_are_smaller_and_the_table_is_read_once(app_for, tables, pre, dynamodb):
    def size(table: str) -> int:
        key = contract.row_key(contract.user_pk(pre.user_ids[0]), VERSION)
        return contract.item_size(dynamodb.get_item(TableName=table, Key=key)["Item"])

    assert size(tables[2]) < 0.8 * size(tables[1])  # 10 items: 216 B against 308 B
    app = app_for(tables[2], default_k=K)
    api = TestClient(app, raise_server_exceptions=False)
    keys: list[str] = []
    app.state.runtime.store._client.meta.events.register(
        "provide-client-params.dynamodb.GetItem", lambda params, **_: keys.append(params["Key"]["pk"]["S"])
    )
    for user in pre.user_ids[:5].tolist():
        assert api.get(f"/v1/users/{user}/recommendations", params={"category": "home"}).status_code == 200
    assert keys.count(contract.CATEGORY_TABLE_PK) == 1


def test_a_version_whose_category_table_is_missing_is_refused_with_the_cause(app_for, tables, pre, dynamodb):
    name = f"recs-layout-broken-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, name)
    row = next(writer.version_rows(VERSION, pre, int(time.time()) + 86400))
    dynamodb.put_item(TableName=name, Item=row)
    dynamodb.put_item(TableName=name, Item=contract.encode_pointer(contract.Pointer(VERSION, K), 0))
    api = TestClient(app_for(name, default_k=K), raise_server_exceptions=False)
    answer = api.get(f"/v1/users/{pre.user_ids[0]}/recommendations")
    assert answer.status_code == 503


def test_a_category_table_that_cannot_be_read_fails_the_answer_until_it_can(app_for, tables, pre):
    app = app_for(tables[2], default_k=K, failure_backoff_seconds=0.2)
    api = TestClient(app, raise_server_exceptions=False)
    client = app.state.runtime.store._client
    refused: list[int] = []

    def refuse_the_table(request, **_):
        if contract.CATEGORY_TABLE_PK.encode() in request.body:
            refused.append(1)
            body = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"down"}'
            return AWSResponse(request.url, 500, {"Content-Type": "application/x-amz-json-1.0"}, _Body(body))
        return None

    client.meta.events.register("before-send.dynamodb.GetItem", refuse_the_table)
    user = pre.user_ids[0]
    failed = api.get(f"/v1/users/{user}/recommendations", params={"category": "home"})
    assert failed.status_code == 503 and refused  # the row came, the names of its codes did not
    client.meta.events.unregister("before-send.dynamodb.GetItem", refuse_the_table)
    time.sleep(0.25)
    answer = api.get(f"/v1/users/{user}/recommendations", params={"category": "home", "include": "metadata"})
    assert answer.status_code == 200 and answer.json()["degraded"] is False
    named = [i["category"] for i in answer.json()["items"] if "category" in i]
    assert named and all(c.startswith("home/") for c in named)
