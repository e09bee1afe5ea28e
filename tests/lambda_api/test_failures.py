"""DynamoDB throttled, hung, unreachable or empty: degraded answers from the cache, or a 503; never a 500
for any of them, and never a stack trace in a body."""

from __future__ import annotations

import logging
import re
import time

import pytest
from fastapi.testclient import TestClient

import contract
from infra.local.aws import free_port
from lambda_api.app import create_app
from lambda_api.deps import build_store, dynamodb_client
from lambda_api.settings import get_settings
from lambda_api.store import RecommendationStore
from tests.lambda_api.api_fixtures import POPULAR, USERS, VERSION, create_table, put_version
from tests.lambda_api.faults import FaultyProxy, throttle

SHORT = {"dynamodb_connect_timeout": 0.2, "dynamodb_read_timeout": 0.3, "dynamodb_max_attempts": 2}
EXPIRING = {"cache_ttl_seconds": 0.05, "pointer_refresh_seconds": 0.05, "failure_backoff_seconds": 5.0}


def ids(body: dict) -> list[str]:
    return [item["item_id"] for item in body["items"]]


def app_with_client(settings):
    """The app, and the real boto3 client its store reads with (to attach faults to)."""
    client = dynamodb_client(settings)
    return TestClient(
        create_app(settings, build_store(settings, client)), raise_server_exceptions=False
    ), client


@pytest.fixture
def proxy(local_aws):
    with FaultyProxy(("127.0.0.1", local_aws.port)) as proxy:
        yield proxy


def test_throttled_dynamodb_serves_the_last_good_rows_marked_degraded(settings_for, published):
    api, client = app_with_client(settings_for(published, **SHORT, **EXPIRING))
    fresh = api.get("/v1/users/12347/recommendations").json()
    time.sleep(0.1)  # the pointer and the row are now due for a re-read
    throttle(client)
    response = api.get("/v1/users/12347/recommendations")
    body = response.json()
    assert response.status_code == 200
    assert (body["source"], body["degraded"], body["model_version"]) == ("personal", True, VERSION)
    assert ids(body) == ids(fresh)
    assert (response.headers["cache-control"], response.headers["x-cache"]) == ("no-store", "stale")
    stats = api.get("/stats").json()
    assert (stats["stale"], stats["dynamodb_backoff"]) == (1, True)
    assert stats["dynamodb_errors"] >= 1


def test_throttled_dynamodb_gives_an_unknown_user_the_cached_popular_list_degraded(settings_for, published):
    api, client = app_with_client(settings_for(published, **SHORT))
    api.get("/v1/users/12347/recommendations")  # reads the pointer, and the global popular list with it
    throttle(client)
    body = api.get("/v1/users/stranger/recommendations").json()
    assert (body["source"], body["segment"], body["degraded"]) == ("fallback", "global", True)
    assert ids(body) == list(POPULAR["global"][0])


def test_throttled_dynamodb_with_nothing_cached_is_503_with_retry_after(settings_for, published):
    api, client = app_with_client(settings_for(published, **SHORT, retry_after_seconds=3))
    sent = throttle(client)
    response = api.get("/v1/users/12347/recommendations")
    assert response.status_code == 503
    assert response.json() == {"detail": f"DynamoDB table {published} cannot be read"}
    assert (response.headers["retry-after"], response.headers["cache-control"]) == ("3", "no-store")
    assert len(sent) == 2  # the bounded attempts: the first and one retry
    assert api.get("/stats").json()["unavailable"] == 1


def test_a_hung_dynamodb_answers_degraded_within_the_timeouts(settings_for, published, proxy):
    api, _ = app_with_client(
        settings_for(published, aws_endpoint_url=proxy.endpoint_url, **SHORT, **EXPIRING)
    )
    assert api.get("/v1/users/12347/recommendations").json()["degraded"] is False
    time.sleep(0.1)
    proxy.mode = "stall"
    started = time.perf_counter()
    body = api.get("/v1/users/12347/recommendations").json()
    elapsed = time.perf_counter() - started
    assert (body["degraded"], ids(body)) == (True, list(USERS["12347"][0][:5]))
    # two attempts of at most connect + read timeout (1 s) and botocore's jitter (up to 1 s): a ceiling far
    # below a hang (botocore's default read timeout is 60 s), not a speed figure (benchmarks hold those)
    assert elapsed < 10.0


def test_after_a_failure_answers_come_from_the_cache_without_waiting(settings_for, published, proxy):
    settings = settings_for(published, aws_endpoint_url=proxy.endpoint_url, **SHORT, **EXPIRING)
    api, client = app_with_client(settings)
    api.get("/v1/users/12347/recommendations")
    time.sleep(0.1)
    proxy.mode = "stall"
    api.get("/v1/users/12347/recommendations")  # pays the timeouts once
    sent: list[int] = []
    client.meta.events.register("before-send.dynamodb", lambda **_: sent.append(1))
    started = time.perf_counter()
    body = api.get("/v1/users/12347/recommendations").json()
    assert (body["degraded"], sent) == (True, [])
    assert (
        time.perf_counter() - started < 5.0
    )  # no DynamoDB call (sent is empty): only the ceiling of a busy machine


def test_answers_are_fresh_again_once_dynamodb_recovers(settings_for, published, proxy):
    overrides = {**SHORT, **EXPIRING, "failure_backoff_seconds": 0.2}
    api, _ = app_with_client(settings_for(published, aws_endpoint_url=proxy.endpoint_url, **overrides))
    api.get("/v1/users/12347/recommendations")
    time.sleep(0.1)
    proxy.mode = "stall"
    assert api.get("/v1/users/12347/recommendations").json()["degraded"] is True
    proxy.mode = "forward"
    time.sleep(0.25)
    response = api.get("/v1/users/12347/recommendations")
    assert (response.json()["degraded"], response.headers["x-cache"]) == (False, "miss")


def test_an_unreachable_dynamodb_with_nothing_cached_is_503_quickly(settings_for, published):
    settings = settings_for(published, aws_endpoint_url=f"http://127.0.0.1:{free_port()}", **SHORT)
    api, _ = app_with_client(settings)
    started = time.perf_counter()
    response = api.get("/v1/items/85123A/similar")
    assert (response.status_code, response.json()) == (
        503,
        {"detail": f"DynamoDB table {published} cannot be read"},
    )
    assert time.perf_counter() - started < 10.0  # refused at once, not hung (a generous ceiling)
    ready = api.get("/ready")
    assert (ready.status_code, ready.json()) == (
        503,
        {"detail": f"DynamoDB table {published} cannot be read"},
    )


def test_a_refusing_dynamodb_serves_the_last_good_rows(settings_for, published, proxy):
    api, _ = app_with_client(
        settings_for(published, aws_endpoint_url=proxy.endpoint_url, **SHORT, **EXPIRING)
    )
    api.get("/v1/items/85123A/similar")
    time.sleep(0.1)
    proxy.mode = "refuse"
    body = api.get("/v1/items/85123A/similar").json()
    assert (body["source"], body["degraded"]) == ("personal", True)


def test_a_table_that_does_not_exist_is_503_not_500(settings_for, local_aws):
    api, _ = app_with_client(settings_for("no-such-table", **SHORT))
    response = api.get("/v1/users/12347/recommendations")
    assert (response.status_code, response.json()) == (
        503,
        {"detail": "DynamoDB table no-such-table cannot be read"},
    )


def test_nothing_published_is_503(settings_for, empty_table):
    api, _ = app_with_client(settings_for(empty_table))
    response = api.get("/v1/users/12347/recommendations")
    assert response.status_code == 503
    assert response.json() == {"detail": f"no model version is published in table {empty_table}"}


def test_a_version_without_a_popular_list_is_503_for_unknown_users_only(settings_for, dynamodb, empty_table):
    put_version(dynamodb, empty_table, popular={})
    api, _ = app_with_client(settings_for(empty_table))
    assert api.get("/v1/users/12347/recommendations").status_code == 200
    response = api.get("/v1/users/stranger/recommendations")
    assert (response.status_code, response.json()) == (
        503,
        {"detail": f"model version {VERSION} has no popular list in table {empty_table}"},
    )


def test_a_pointer_flip_and_a_rollback_reach_a_warm_app_within_the_refresh_interval(
    settings_for, dynamodb, table_name
):
    """The store's clock moves by hand: no race between a short interval and a busy machine."""
    create_table(dynamodb, table_name)
    put_version(dynamodb, table_name, "v1")
    settings = settings_for(table_name, pointer_refresh_seconds=30.0)
    now = [1000.0]
    store = RecommendationStore(
        dynamodb_client(settings), table_name, pointer_refresh_seconds=30.0, clock=lambda: now[0]
    )
    api = TestClient(create_app(settings, store), raise_server_exceptions=False)
    assert api.get("/v1/users/12347/recommendations").json()["model_version"] == "v1"
    put_version(dynamodb, table_name, "v2")
    now[0] += 29.9
    assert api.get("/v1/users/12347/recommendations").json()["model_version"] == "v1"  # within the interval
    now[0] += 0.2
    assert api.get("/v1/users/12347/recommendations").json()["model_version"] == "v2"
    dynamodb.put_item(TableName=table_name, Item=contract.encode_pointer(contract.Pointer("v1", 5), 0))
    now[0] += 30.0
    assert api.get("/v1/users/12347/recommendations").json()["model_version"] == "v1"


def test_an_unexpected_error_is_a_logged_json_500_without_a_stack_trace(settings_for, published, caplog):
    api, client = app_with_client(settings_for(published))

    def explode(**_):
        raise RuntimeError("boom: secret internals")

    client.meta.events.register("before-send.dynamodb", explode)
    with caplog.at_level(logging.ERROR, logger="lambda_api"):
        response = api.get("/v1/users/12347/recommendations")
    assert response.status_code == 500
    assert re.fullmatch(r"internal error \(reference [0-9a-f]{12}\)", response.json()["detail"])
    assert "boom" not in response.text and "Traceback" not in response.text
    reference = response.json()["detail"][-13:-1]
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_missing_table_setting_is_a_json_500_and_health_still_answers(monkeypatch):
    monkeypatch.delenv("RECS_TABLE_NAME", raising=False)
    get_settings.cache_clear()
    try:
        api = TestClient(create_app(), raise_server_exceptions=False)
        response = api.get("/v1/users/12347/recommendations")
        assert response.status_code == 500
        assert response.json()["detail"].startswith("internal error (reference ")
    finally:
        get_settings.cache_clear()
