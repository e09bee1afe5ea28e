"""Hostile requests and misconfiguration, through the app, Mangum and real HTTP (issue #12, items 2, 3,
8, 10 and 16)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from urllib.parse import quote

import boto3
import httpx
import pytest
from fastapi.testclient import TestClient
from mangum import Mangum

import contract
from infra.local.demo import serve_api
from tests.lambda_api.api_fixtures import API_KEY, POPULAR, USERS, VERSION, create_table, put_version
from tests.lambda_api.test_handler import http_v2_event

# -- item 2: keys misconfigured fail the start, and never show ------------------------------------

SECRET_LOOKING = "prod-key-0123456789abcdef"


def start_the_handler(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Import ``lambda_api.handler`` in a fresh process, as a Lambda container's start does."""
    return subprocess.run(
        [sys.executable, "-c", "import lambda_api.handler"],
        env={"PATH": "/usr/bin:/bin", "RECS_TABLE_NAME": "recs", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (
            f"{SECRET_LOOKING},oops",
            "RECS_API_KEYS: key 2 of 2 is shorter than 16 characters (keys are not shown)",
        ),
        ("", "RECS_API_KEYS is set but holds no key"),
        ("  ,  ", "RECS_API_KEYS is set but holds no key"),
    ],
)
def test_malformed_keys_fail_the_start_without_showing_them(value, says):
    started = start_the_handler({"RECS_API_KEYS": value})
    assert started.returncode != 0
    assert says in started.stderr
    assert SECRET_LOOKING not in started.stderr and "oops" not in started.stderr


def test_a_settings_error_never_carries_the_value(settings_for, published):
    with pytest.raises(ValueError) as err:
        settings_for(published, api_keys=f"{SECRET_LOOKING},oops")
    assert SECRET_LOOKING not in str(err.value) and "oops" not in str(err.value)


@pytest.fixture
def secret(local_aws):
    client = boto3.client("secretsmanager", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    name = f"recs-keys-{uuid.uuid4().hex[:8]}"
    client.create_secret(Name=name, SecretString=f"{API_KEY}, {'n' * 20}")
    return name


def test_keys_from_secrets_manager_guard_the_api(app_for, published, secret):
    api = TestClient(app_for(published, api_keys_secret=secret), raise_server_exceptions=False)
    path = "/v1/users/12347/recommendations"
    assert api.get(path).status_code == 401
    assert api.get(path, headers={"X-API-Key": "n" * 20}).status_code == 200
    assert api.get(path, headers={"X-API-Key": API_KEY}).json()["model_version"] == VERSION
    assert api.get(path, headers={"X-API-Key": "x" * 20}).status_code == 401


def test_an_unreadable_secret_refuses_every_request(app_for, published, caplog):
    api = TestClient(app_for(published, api_keys_secret="no-such-secret"), raise_server_exceptions=False)
    response = api.get("/v1/users/12347/recommendations", headers={"X-API-Key": API_KEY})
    assert response.status_code == 500
    assert "no-such-secret" not in response.text  # the answer names nothing; the log does
    logged = [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    assert (
        "secret no-such-secret cannot be read (ResourceNotFoundException): the API refuses every request"
        in logged
    )


def test_keys_and_a_secret_together_are_refused(settings_for, published):
    with pytest.raises(ValueError, match="set RECS_API_KEYS or RECS_API_KEYS_SECRET, not both"):
        settings_for(published, api_keys=API_KEY, api_keys_secret="x")


# -- item 3: no shared caching of keyed answers, no Host-built redirects -------------------------


def test_answers_behind_keys_are_private_and_vary_on_the_key(app_for, published):
    keyed = TestClient(app_for(published, api_keys=API_KEY))
    response = keyed.get("/v1/users/12347/recommendations", headers={"X-API-Key": API_KEY})
    assert response.headers["cache-control"] == "private, max-age=60"
    assert response.headers["vary"] == "X-API-Key"
    open_api = TestClient(app_for(published))
    assert open_api.get("/v1/users/12347/recommendations").headers["cache-control"] == "public, max-age=60"


def test_a_trailing_slash_is_not_redirected_to_the_host_header(local_aws, published):
    env = {"RECS_TABLE_NAME": published, "AWS_ENDPOINT_URL": local_aws.endpoint_url}
    with serve_api(env) as base:
        response = httpx.get(
            f"{base}/v1/users/12347/recommendations/",
            headers={"Host": "evil.example"},
            follow_redirects=False,
        )
    assert response.status_code == 404
    assert "location" not in response.headers


# -- item 8: every stored id can be asked for and excluded ----------------------------------------

ODD_USERS = {
    "x#y": ("22423",),
    "José": ("84879",),
    "a/b": ("85123A",),
    "?q=1&k=2": ("21733",),
    "%41": ("47566",),
}


@pytest.fixture
def odd_table(dynamodb, table_name):
    create_table(dynamodb, table_name)
    users = {u: (items + ("85123A", "22423"), (0.9, 0.8, 0.7)) for u, items in ODD_USERS.items()}
    put_version(dynamodb, table_name, users=users)
    return table_name


def users_path(user_id: str) -> str:
    return f"/v1/users/{quote(user_id, safe='')}/recommendations"


def test_odd_ids_are_served_over_http_and_through_mangum(app_for, odd_table, local_aws):
    """Not through Starlette's TestClient: it decodes a path twice (``%2541`` reaches the app as ``A``)."""
    handler = Mangum(app_for(odd_table), lifespan="off")
    env = {"RECS_TABLE_NAME": odd_table, "AWS_ENDPOINT_URL": local_aws.endpoint_url}
    with serve_api(env) as base:
        for user_id, items in ODD_USERS.items():
            over_http = httpx.get(base + users_path(user_id), params={"k": 1}).json()
            through_lambda = json.loads(handler(http_v2_event(users_path(user_id), "k=1"), None)["body"])
            for body in (over_http, through_lambda):
                assert (body["user_id"], body["source"], [i["item_id"] for i in body["items"]]) == (
                    user_id,
                    "personal",
                    list(items),
                )


def test_exclude_is_repeatable_for_ids_with_spaces_and_unicode(app_for, odd_table):
    api = TestClient(app_for(odd_table))
    body = api.get(users_path("José"), params=[("k", 2), ("exclude", "84879"), ("exclude", "85123A")]).json()
    assert [i["item_id"] for i in body["items"]] == ["22423", "47566"]  # then the first popular one left
    assert body["backfilled"] == 1


def test_an_id_with_a_comma_is_a_422_naming_the_rule(app_for, odd_table):
    response = TestClient(app_for(odd_table)).get(users_path("u,1"))
    assert response.status_code == 422
    assert response.json() == {"detail": f"user_id: must be {contract.ID_CHARACTERS}"}


# -- item 10: a known user never gets an empty list -----------------------------------------------


def test_a_user_whose_list_is_all_excluded_is_filled_from_the_popular_list(api):
    stored = list(USERS["12347"][0])
    body = api.get("/v1/users/12347/recommendations", params={"k": 3, "exclude": ",".join(stored)}).json()
    popular_left = [i for i in POPULAR["global"][0] if i not in stored]
    assert (body["source"], body["backfilled"]) == ("personal", len(popular_left[:3]))
    assert [i["item_id"] for i in body["items"]] == popular_left[:3]


def test_a_short_list_is_topped_up_without_repeats(api):
    body = api.get("/v1/users/user@example.com/recommendations", params={"k": 5}).json()
    own = list(USERS["user@example.com"][0])
    rest = [i for i in POPULAR["global"][0] if i not in own]
    assert [i["item_id"] for i in body["items"]] == own + rest[:3]
    assert body["backfilled"] == 3


# -- item 16: k above the similar items a version holds ------------------------------------------


def test_similar_k_above_what_each_item_holds_is_a_422_naming_the_limit(api):
    response = api.get("/v1/items/85123A/similar", params={"k": 4})
    assert response.status_code == 422
    assert response.json() == {
        "detail": f"k=4 exceeds the 3 similar items precomputed for model version {VERSION}"
    }
    assert len(api.get("/v1/items/85123A/similar", params={"k": 3}).json()["items"]) == 3


def test_the_stack_key_reaches_the_handler(local_aws, published, secret):
    """RECS_API_KEYS_SECRET, as the template sets it: the handler in a fresh process reads the secret."""
    env = {
        "RECS_TABLE_NAME": published,
        "RECS_API_KEYS_SECRET": secret,
        "AWS_ENDPOINT_URL": local_aws.endpoint_url,
    }
    with serve_api(env) as base:
        assert httpx.get(f"{base}/v1/users/12347/recommendations").status_code == 401
        keyed = httpx.get(f"{base}/v1/users/12347/recommendations", headers={"X-API-Key": API_KEY})
    assert keyed.status_code == 200 and keyed.headers["cache-control"].startswith("private")
