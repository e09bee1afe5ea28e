"""The request parameters as /openapi.json documents them (lambda_api.params): optional query
parameters as their own type, never ``null`` (a query string cannot send one), and the id rule's
pattern on every id a client sends."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

import contract
from lambda_api.app import create_app
from lambda_api.params import MAX_EXCLUDE
from lambda_api.settings import ApiSettings

USERS, ITEMS = "/v1/users/{user_id}/recommendations", "/v1/items/{item_id}/similar"


@pytest.fixture
def parameters() -> dict[str, dict[str, dict]]:
    """Each recommendation route's parameters by name (the document needs no table: none is read)."""
    spec = TestClient(create_app(ApiSettings(table_name="recs-docs"))).get("/openapi.json").json()
    return {path: {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]} for path in (USERS, ITEMS)}


def kept(schema: dict, *names: str) -> dict:
    return {name: schema[name] for name in names if name in schema}


def test_optional_query_parameters_are_documented_as_their_type_without_null(parameters):
    for path in (USERS, ITEMS):
        query = {name: p["schema"] for name, p in parameters[path].items() if p["in"] == "query"}
        for name, schema in query.items():
            assert "anyOf" not in schema and "null" not in str(schema), (path, name)
        assert kept(query["k"], "type", "minimum", "maximum") == {
            "type": "integer",
            "minimum": 1,
            "maximum": contract.MAX_K,
        }
        assert kept(query["include"], "type", "const") == {"type": "string", "const": "metadata"}
        assert kept(query["category"], "type", "minLength", "maxLength", "pattern") == {
            "type": "string",
            "minLength": 1,
            "maxLength": contract.MAX_ID_LENGTH,
            "pattern": contract.ID_PATTERN,
        }
    users = {name: p["schema"] for name, p in parameters[USERS].items()}
    assert kept(users["segment"], "type", "maxLength", "pattern") == {
        "type": "string",
        "maxLength": contract.MAX_SEGMENT_LENGTH,
        "pattern": contract.ID_PATTERN,
    }
    assert kept(users["exclude"], "type", "maxItems") == {"type": "array", "maxItems": MAX_EXCLUDE}
    assert users["exclude"]["items"]["type"] == "string"
    assert set(parameters[ITEMS]) == {"item_id", "k", "category", "include"}  # no exclude, no segment


def test_path_ids_are_documented_with_the_id_rule(parameters):
    for path, name in ((USERS, "user_id"), (ITEMS, "item_id")):
        schema = parameters[path][name]["schema"]
        assert parameters[path][name]["required"] is True
        assert kept(schema, "type", "minLength", "maxLength", "pattern") == {
            "type": "string",
            "minLength": 1,
            "maxLength": contract.MAX_ID_LENGTH,
            "pattern": contract.ID_PATTERN,
        }
