"""/openapi.json documents what the API does: tags, answer headers, an example per parameter and per
error, and each error example is the detail a real request gets."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from lambda_api import api_docs
from lambda_api.schemas import VERSION_EXAMPLE
from tests.lambda_api.api_fixtures import API_KEY, VERSION

RECOMMENDATION_ROUTES = ("/v1/users/{user_id}/recommendations", "/v1/items/{item_id}/similar")


@pytest.fixture
def spec(api) -> dict:
    answer = api.get("/openapi.json")
    assert answer.status_code == 200
    return answer.json()


def _operations(spec: dict):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_route_has_a_documented_tag(spec):
    declared = {t["name"]: t["description"] for t in spec["tags"]}
    assert set(declared) == {"recommendations", "operations"} and all(declared.values())
    tags = {path: op.get("tags") for path, _, op in _operations(spec)}
    for path, tag in tags.items():
        assert tag and set(tag) <= set(declared), path
    assert tags["/v1/users/{user_id}/recommendations"] == ["recommendations"]
    assert tags["/health"] == ["operations"]


def test_answers_document_their_headers_and_503s_their_retry_after(spec):
    for path in RECOMMENDATION_ROUTES:
        ok = spec["paths"][path]["get"]["responses"]["200"]
        assert set(ok["headers"]) == {"X-Model-Version", "X-Cache"}, path
        assert ok["headers"]["X-Cache"]["schema"]["enum"] == ["hit", "miss", "stale"]
    for path, _, op in _operations(spec):
        if "503" in op["responses"]:
            retry = op["responses"]["503"]["headers"]["Retry-After"]
            assert retry["schema"]["type"] == "integer" and retry["example"] == 5, path


def test_the_documented_headers_are_the_ones_sent(api):
    answer = api.get("/v1/users/12347/recommendations")
    assert answer.headers["X-Model-Version"] == VERSION
    assert answer.headers["X-Cache"] in api_docs.ANSWER_HEADERS["X-Cache"]["schema"]["enum"]


def test_every_parameter_has_an_example(spec):
    seen = 0
    for path, _, op in _operations(spec):
        for parameter in op.get("parameters", []):
            if parameter["in"] == "header":
                continue  # X-API-Key: a secret has no example
            seen += 1
            assert parameter["schema"].get("examples"), (path, parameter["name"])
    assert seen >= 6  # user_id, k, exclude, segment, item_id, k


def test_every_error_response_has_an_example(spec):
    codes = set()
    for path, _, op in _operations(spec):
        for code, response in op["responses"].items():
            if code.startswith("2"):
                continue
            codes.add(code)
            examples = response["content"]["application/json"]["examples"]
            assert examples and all(e["value"]["detail"] for e in examples.values()), (path, code)
    assert codes == {"401", "422", "503"}


def _documented_detail(example: api_docs.ErrorExample) -> str:
    return example.detail.replace(VERSION_EXAMPLE, VERSION)


@pytest.mark.parametrize("example", api_docs.INVALID, ids=lambda e: e.name)
def test_each_422_example_is_what_its_request_gets(api, example):
    answer = api.get(example.request)
    assert answer.status_code == 422
    assert answer.json()["detail"] == _documented_detail(example)


@pytest.mark.parametrize("example", api_docs.UNAUTHORIZED, ids=lambda e: e.name)
def test_each_401_example_is_what_its_request_gets(app_for, published, example):
    keyed = TestClient(app_for(published, api_keys=API_KEY))
    headers = {"X-API-Key": "x" * 24} if example.name == "invalid_key" else {}
    answer = keyed.get(example.request, headers=headers)
    assert answer.status_code == 401 and answer.json()["detail"] == example.detail


def test_the_503_example_is_what_an_empty_table_answers(app_for, empty_table):
    (example,) = api_docs.UNAVAILABLE
    answer = TestClient(app_for(empty_table)).get(example.request)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert answer.json()["detail"] == example.detail.replace("table recs", f"table {empty_table}")
