"""The Lambda entry point with the events AWS sends: API Gateway REST (v1), HTTP API (v2), ALB."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode

import pytest
from mangum import Mangum

from lambda_api import deps, settings
from lambda_api.app import create_app
from tests.lambda_api.api_fixtures import API_KEY, USERS, VERSION

HOST = "abc123.execute-api.us-east-1.amazonaws.com"
TARGET_GROUP = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/recs/49e9d65c45c6791a"


def rest_v1_event(path: str, query: str = "", headers: dict | None = None) -> dict:
    headers = {"Host": HOST, "Accept": "application/json", "X-Forwarded-Proto": "https", **(headers or {})}
    pairs = parse_qsl(query)
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": dict(pairs) or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "2gxmpl",
            "resourcePath": "/{proxy+}",
            "httpMethod": "GET",
            "requestId": "e0fd0c4a-e2f9-4e79-a2cd-6e0f3b1d2a5b",
            "path": f"/prod{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "prod",
            "domainPrefix": "abc123",
            "requestTimeEpoch": 1763777700000,
            "identity": {"sourceIp": "203.0.113.10", "userAgent": "curl/8.5.0"},
            "domainName": HOST,
            "apiId": "abc123",
        },
        "body": None,
        "isBase64Encoded": False,
    }


def http_v2_event(path: str, query: str = "", headers: dict | None = None) -> dict:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "host": HOST,
            "accept": "application/json",
            **{k.lower(): v for k, v in (headers or {}).items()},
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": HOST,
            "domainPrefix": "abc123",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "22/Nov/2026:02:15:00 +0000",
            "timeEpoch": 1763777700000,
        },
        "isBase64Encoded": False,
    }


def alb_event(path: str, query: str = "", headers: dict | None = None, multi_value: bool = False) -> dict:
    headers = {
        "host": "recs-alb-123.us-east-1.elb.amazonaws.com",
        "accept": "application/json",
        **(headers or {}),
    }
    event = {
        "requestContext": {"elb": {"targetGroupArn": TARGET_GROUP}},
        "httpMethod": "GET",
        "path": path,
        "body": "",
        "isBase64Encoded": False,
    }
    pairs = parse_qsl(query)
    if multi_value:
        multi: dict[str, list[str]] = {}
        for name, value in pairs:
            multi.setdefault(name, []).append(value)
        event |= {
            "multiValueQueryStringParameters": multi,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
        }
    else:
        event |= {"queryStringParameters": dict(pairs), "headers": headers}
    return event


EVENTS = {
    "rest-v1": rest_v1_event,
    "http-v2": http_v2_event,
    "alb": alb_event,
    "alb-multi-value": lambda *a, **kw: alb_event(*a, **kw, multi_value=True),
}


def headers_of(response: dict) -> dict[str, str]:
    single = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    multi = {k.lower(): v[0] for k, v in (response.get("multiValueHeaders") or {}).items()}
    return single | multi


@pytest.fixture
def lambda_handler(monkeypatch, published):
    """The deployed entry point, ``lambda_api.handler.handler``, configured by the environment."""
    monkeypatch.setenv("RECS_TABLE_NAME", published)
    settings.get_settings.cache_clear()
    deps.get_store.cache_clear()
    from lambda_api.handler import handler

    yield handler
    settings.get_settings.cache_clear()
    deps.get_store.cache_clear()


@pytest.mark.parametrize("kind", EVENTS)
def test_every_event_kind_gets_the_users_list(lambda_handler, kind):
    query = urlencode([("k", 3), ("exclude", "85123A,21733")])  # an ALB keeps one value per name
    response = lambda_handler(EVENTS[kind]("/v1/users/12347/recommendations", query), None)
    body = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert [i["item_id"] for i in body["items"]] == ["22423", "84879", "47566"]
    assert (body["model_version"], body["source"]) == (VERSION, "personal")
    assert headers_of(response)["x-model-version"] == VERSION
    assert headers_of(response)["content-type"] == "application/json"


@pytest.mark.parametrize("kind", EVENTS)
def test_every_event_kind_gets_json_validation_errors(lambda_handler, kind):
    response = lambda_handler(EVENTS[kind]("/v1/items/85123A/similar", "k=0"), None)
    assert response["statusCode"] == 422
    assert json.loads(response["body"]) == {"detail": "k: Input should be greater than or equal to 1"}
    assert headers_of(response)["cache-control"] == "no-store"


@pytest.mark.parametrize("kind", EVENTS)
def test_every_event_kind_passes_the_api_key_header(settings_for, published, kind):
    handler = Mangum(create_app(settings_for(published, api_keys=API_KEY)), lifespan="off")
    path = "/v1/users/user@example.com/recommendations"
    accepted = handler(EVENTS[kind](path, "k=2", headers={"X-API-Key": API_KEY}), None)
    refused = handler(EVENTS[kind](path, "k=2"), None)
    assert [i["item_id"] for i in json.loads(accepted["body"])["items"]] == list(USERS["user@example.com"][0])
    assert (refused["statusCode"], json.loads(refused["body"])) == (
        401,
        {"detail": "missing X-API-Key header"},
    )


def test_health_through_the_handler_needs_no_table(monkeypatch):
    monkeypatch.delenv("RECS_TABLE_NAME", raising=False)
    settings.get_settings.cache_clear()
    from lambda_api.handler import handler

    response = handler(http_v2_event("/health"), None)
    assert (response["statusCode"], json.loads(response["body"])) == (200, {"status": "ok"})
