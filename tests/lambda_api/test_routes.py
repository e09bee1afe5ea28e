"""The routes against a real moto table: answers, fallbacks, validation, headers, auth, CORS."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.lambda_api.api_fixtures import API_KEY, POPULAR, SIMILAR, USERS, VERSION, K


def ids(body: dict) -> list[str]:
    return [item["item_id"] for item in body["items"]]


def test_health_needs_nothing_but_the_process(app_for):
    api = TestClient(app_for("no-such-table"))
    response = api.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert response.headers["cache-control"] == "no-store"


def test_ready_names_the_served_version(api):
    response = api.get("/ready")
    assert (response.status_code, response.json()) == (
        200,
        {"status": "ready", "model_version": VERSION, "k": K},
    )


def test_ready_is_503_before_anything_is_published(app_for, empty_table):
    response = TestClient(app_for(empty_table, retry_after_seconds=7)).get("/ready")
    assert response.status_code == 503
    assert response.json() == {"detail": f"no model version is published in table {empty_table}"}
    assert response.headers["retry-after"] == "7"


def test_a_known_user_gets_the_stored_list(api):
    response = api.get("/v1/users/12347/recommendations", params={"k": 3})
    body = response.json()
    assert response.status_code == 200
    assert ids(body) == list(USERS["12347"][0][:3])
    assert [i["score"] for i in body["items"]] == list(USERS["12347"][1][:3])
    assert (body["user_id"], body["model_version"], body["source"]) == ("12347", VERSION, "personal")
    assert (body["degraded"], body["segment"]) == (False, None)
    assert len(body["rec_id"]) == 32
    assert response.headers["x-model-version"] == VERSION


def test_every_answer_has_its_own_rec_id(api):
    rec_ids = {api.get("/v1/users/12347/recommendations").json()["rec_id"] for _ in range(5)}
    assert len(rec_ids) == 5


def test_ids_with_at_and_dot_are_accepted(api):
    body = api.get("/v1/users/user@example.com/recommendations", params={"k": 2}).json()
    assert (body["source"], ids(body), body["backfilled"]) == (
        "personal",
        list(USERS["user@example.com"][0]),
        0,
    )


@pytest.mark.parametrize(
    "exclude", [["85123A", "21733"], ["85123A,21733"], ["85123A, 21733,"], ["no-such", "21733,85123A"]]
)
def test_exclude_drops_items_and_fills_k_from_the_rest(api, exclude):
    body = api.get("/v1/users/12347/recommendations", params={"k": 3, "exclude": exclude}).json()
    assert ids(body) == ["22423", "84879", "47566"]


def test_an_unknown_user_gets_the_global_popular_list_marked_fallback(api):
    body = api.get("/v1/users/nobody/recommendations", params={"k": 5}).json()
    assert (body["source"], body["segment"], body["degraded"]) == ("fallback", "global", False)
    assert ids(body) == list(POPULAR["global"][0])


def test_an_unknown_user_with_a_segment_gets_that_segments_list(api):
    body = api.get("/v1/users/nobody/recommendations", params={"segment": "France"}).json()
    assert (body["source"], body["segment"], ids(body)) == ("fallback", "France", list(POPULAR["France"][0]))


def test_a_segment_that_was_not_published_falls_back_to_global(api):
    body = api.get("/v1/users/nobody/recommendations", params={"segment": "Atlantis"}).json()
    assert (body["source"], body["segment"]) == ("fallback", "global")


def test_a_known_user_ignores_the_segment(api):
    body = api.get("/v1/users/12347/recommendations", params={"segment": "France"}).json()
    assert (body["source"], body["segment"]) == ("personal", None)


def test_similar_items_of_a_known_item(api):
    body = api.get("/v1/items/85123A/similar", params={"k": 2}).json()
    assert (body["item_id"], body["source"], ids(body)) == (
        "85123A",
        "personal",
        list(SIMILAR["85123A"][0][:2]),
    )


def test_an_unknown_item_gets_the_popular_list_without_itself(api):
    body = api.get("/v1/items/22423/similar", params={"k": 5}).json()
    assert (body["source"], body["segment"]) == ("fallback", "global")
    assert ids(body) == [i for i in POPULAR["global"][0] if i != "22423"]


def test_k_above_what_the_version_holds_is_a_422_that_says_so(api):
    response = api.get("/v1/users/12347/recommendations", params={"k": K + 1})
    assert response.status_code == 422
    assert response.json() == {
        "detail": f"k={K + 1} exceeds the {K} items precomputed for model version {VERSION}"
    }


USERS_PATH = "/v1/users/12347/recommendations"
RULE = "must be text without control characters or commas, and without a space at either end"
INVALID = [
    (USERS_PATH, {"k": 0}, "k: Input should be greater than or equal to 1"),
    (USERS_PATH, {"k": 201}, "k: Input should be less than or equal to 200"),
    (USERS_PATH, {"k": "ten"}, "k: Input should be a valid integer, unable to parse string as an integer"),
    ("/v1/users/" + "u" * 257 + "/recommendations", {}, "user_id: String should have at most 256 characters"),
    ("/v1/users/u%2C1/recommendations", {}, f"user_id: {RULE}"),
    (USERS_PATH, {"segment": ""}, "segment: String should have at least 1 character"),
    (USERS_PATH, {"segment": "x" * 65}, "segment: String should have at most 64 characters"),
    (USERS_PATH, {"exclude": ["a,b\x01"]}, "exclude: item id 'b\\x01' " + RULE),
    ("/v1/users/%20padded/recommendations", {}, f"user_id: {RULE}"),
    (USERS_PATH, {"exclude": ",".join(map(str, range(101)))}, "exclude: at most 100 item ids, got 101"),
    (
        USERS_PATH,
        {"exclude": [str(i) for i in range(101)]},
        "exclude: List should have at most 100 items after validation, not 101",
    ),
    ("/v1/items/%00x/similar", {}, f"item_id: {RULE}"),
    ("/v1/items/85123A/similar", {"k": -1}, "k: Input should be greater than or equal to 1"),
    (USERS_PATH, {"kk": 3}, "kk: Extra inputs are not permitted"),
    ("/v1/items/85123A/similar", {"exclude": "1"}, "exclude: Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("path", "params", "detail"), INVALID)
def test_invalid_parameters_are_422_with_the_rule_broken(api, path, params, detail):
    response = api.get(path, params=params)
    assert (response.status_code, response.json()) == (422, {"detail": detail})


def test_unknown_routes_are_json_404(api):
    response = api.get("/v2/anything")
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})


def test_answers_are_cacheable_for_the_configured_time(app_for, published):
    api = TestClient(app_for(published, cache_control="public, max-age=30"))
    assert api.get("/v1/users/12347/recommendations").headers["cache-control"] == "public, max-age=30"
    assert api.get("/v1/items/85123A/similar").headers["cache-control"] == "public, max-age=30"


def test_errors_are_never_cached(api):
    response = api.get("/v1/users/12347/recommendations", params={"k": 0})
    assert response.headers["cache-control"] == "no-store"


def test_cache_hits_and_misses_show_in_headers_and_stats(app_for, published):
    api = TestClient(app_for(published))
    first = api.get("/v1/users/12347/recommendations")
    second = api.get("/v1/users/12347/recommendations")
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    stats = api.get("/stats").json()
    assert (stats["model_version"], stats["hits"], stats["misses"], stats["stale"]) == (VERSION, 1, 1, 0)
    assert stats["cache_entries"] == 2  # the user's row and the global popular list, read with the pointer


# -- API keys ------------------------------------------------------------------------------------


@pytest.fixture
def keyed_api(app_for, published) -> TestClient:
    return TestClient(app_for(published, api_keys=f"{'o' * 20},{API_KEY}"))


@pytest.mark.parametrize("path", ["/v1/users/12347/recommendations", "/v1/items/85123A/similar", "/stats"])
def test_with_keys_configured_a_missing_key_is_401(keyed_api, path):
    response = keyed_api.get(path)
    assert (response.status_code, response.json()) == (401, {"detail": "missing X-API-Key header"})
    assert response.headers["www-authenticate"] == "ApiKey"


def test_with_keys_configured_a_wrong_key_is_401(keyed_api):
    response = keyed_api.get("/v1/users/12347/recommendations", headers={"X-API-Key": API_KEY[:-1] + "x"})
    assert (response.status_code, response.json()) == (401, {"detail": "invalid X-API-Key"})


def test_with_keys_configured_any_configured_key_is_accepted(keyed_api):
    for key in ("o" * 20, API_KEY):
        response = keyed_api.get("/v1/users/12347/recommendations", headers={"X-API-Key": key})
        assert response.status_code == 200


def test_health_and_ready_need_no_key(keyed_api):
    assert keyed_api.get("/health").status_code == 200
    assert keyed_api.get("/ready").status_code == 200


def test_short_api_keys_are_refused_at_start(settings_for, published):
    with pytest.raises(
        ValueError, match=r"RECS_API_KEYS: key 1 of 1 is shorter than 16 characters \(keys are"
    ):
        settings_for(published, api_keys="short")


# -- CORS ----------------------------------------------------------------------------------------


def test_cors_allows_the_configured_origin_only(app_for, published):
    api = TestClient(app_for(published, cors_origins="https://shop.example, https://m.shop.example"))
    allowed = api.get("/v1/users/12347/recommendations", headers={"Origin": "https://m.shop.example"})
    other = api.get("/v1/users/12347/recommendations", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://m.shop.example"
    assert "access-control-allow-origin" not in other.headers
    preflight = api.options(
        "/v1/users/12347/recommendations",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-API-Key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"


def test_without_configured_origins_there_are_no_cors_headers(api):
    response = api.get("/v1/users/12347/recommendations", headers={"Origin": "https://shop.example"})
    assert "access-control-allow-origin" not in response.headers
