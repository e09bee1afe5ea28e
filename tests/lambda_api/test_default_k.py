"""Without ``k`` an answer holds ``RECS_DEFAULT_K`` items (at most what the version published), on
every route and through every fallback; the popular fallback's items are the popular list's."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from lambda_api.app import create_app
from lambda_api.settings import ApiSettings
from tests.lambda_api.api_fixtures import POPULAR, SIMILAR, USERS


def ids(body: dict) -> list[str]:
    return [i["item_id"] for i in body["items"]]


@pytest.fixture
def api_from_environment(monkeypatch, local_aws, published):
    """An app whose settings are read from ``RECS_*`` variables, as a container's are."""

    def make(**variables: str) -> TestClient:
        monkeypatch.setenv("RECS_TABLE_NAME", published)
        monkeypatch.setenv("RECS_AWS_ENDPOINT_URL", local_aws.endpoint_url)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return TestClient(create_app(ApiSettings()), raise_server_exceptions=False)

    return make


def test_recs_default_k_sets_the_length_of_an_answer_without_k(api_from_environment):
    api = api_from_environment(RECS_DEFAULT_K="3")
    user = api.get("/v1/users/12347/recommendations").json()
    unknown = api.get("/v1/users/nobody/recommendations").json()
    france = api.get("/v1/users/nobody/recommendations", params={"segment": "France"}).json()
    assert ids(user) == list(USERS["12347"][0][:3])
    assert (unknown["source"], ids(unknown)) == ("fallback", list(POPULAR["global"][0][:3]))
    assert (france["segment"], ids(france)) == ("France", list(POPULAR["France"][0][:3]))


def test_recs_default_k_on_similar_items(api_from_environment):
    api = api_from_environment(RECS_DEFAULT_K="2")
    known = api.get("/v1/items/85123A/similar").json()
    unknown = api.get("/v1/items/22423/similar").json()
    assert ids(known) == list(SIMILAR["85123A"][0][:2])
    assert (unknown["source"], ids(unknown)) == ("fallback", ["85123A", "84879"])  # the popular, not itself


def test_a_short_list_is_topped_up_to_the_default_k_from_the_popular_list(app_for, published):
    api = TestClient(app_for(published, default_k=4))
    body = api.get("/v1/users/user@example.com/recommendations").json()
    assert ids(body) == [*USERS["user@example.com"][0], "85123A", "47566"]  # popular, without repeats
    assert body["backfilled"] == 2


def test_a_default_k_above_what_was_published_gives_every_published_item(app_for, published):
    api = TestClient(app_for(published, default_k=50))
    assert ids(api.get("/v1/users/12347/recommendations").json()) == list(USERS["12347"][0])
    assert ids(api.get("/v1/users/nobody/recommendations").json()) == list(POPULAR["global"][0])


def test_an_explicit_k_wins_over_the_default(app_for, published):
    api = TestClient(app_for(published, default_k=1))
    assert ids(api.get("/v1/users/12347/recommendations", params={"k": 4}).json()) == list(
        USERS["12347"][0][:4]
    )


def test_the_default_default_k_is_10():
    assert ApiSettings.model_fields["default_k"].default == 10
