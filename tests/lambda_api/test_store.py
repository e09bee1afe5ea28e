"""The store's cache against a real moto table: bounded size, TTL, absent keys, the pointer interval."""

from __future__ import annotations

import pytest

from lambda_api.deps import build_store, dynamodb_client
from tests.lambda_api.api_fixtures import USERS, VERSION


@pytest.fixture
def store_for(settings_for, published):
    """A store on the published table, and the partition keys of every GetItem it sends."""

    def make(**overrides):
        settings = settings_for(published, **overrides)
        client = dynamodb_client(settings)
        reads: list[str] = []
        record = lambda params, **_: reads.append(params["Key"]["pk"]["S"])  # noqa: E731
        client.meta.events.register("before-parameter-build.dynamodb.GetItem", record)
        return build_store(settings, client), reads

    return make


def test_the_first_lookup_reads_the_pointer_the_row_and_the_global_popular_list(store_for):
    store, reads = store_for()
    found = store.for_user("12347")
    assert (found.version, found.source, found.cache, found.k) == (VERSION, "personal", "miss", 5)
    assert found.ranked.item_ids == USERS["12347"][0]
    assert reads == ["meta#pointer", "meta#experiment", "popular#global", "user#12347"]


def test_a_cached_row_is_not_read_again_within_its_ttl(store_for):
    store, reads = store_for(cache_ttl_seconds=300.0, pointer_refresh_seconds=3600.0)
    now = [1000.0]
    store._clock = lambda: now[0]  # moved by hand: no race between a short TTL and a busy machine
    store.for_user("12347")
    now[0] += 299.0
    assert store.for_user("12347").cache == "hit"
    assert reads.count("user#12347") == 1
    now[0] += 2.0
    assert store.for_user("12347").cache == "miss"
    assert reads.count("user#12347") == 2


def test_unknown_users_are_cached_as_absent(store_for):
    store, reads = store_for()
    assert [store.for_user("stranger").source for _ in range(3)] == ["fallback"] * 3
    assert reads.count("user#stranger") == 1


def test_the_cache_holds_at_most_its_maximum_number_of_rows(store_for):
    store, _ = store_for(cache_max_entries=2)
    for user in ("12347", "a", "b", "c"):
        store.for_user(user)
    assert store.snapshot()["cache_entries"] == 2


def test_the_pointer_is_read_at_most_once_per_refresh_interval(store_for):
    """The store's clock moves by hand: no race between a short interval and a busy machine."""
    store, reads = store_for(pointer_refresh_seconds=30.0)
    now = [1000.0]
    store._clock = lambda: now[0]
    for _ in range(5):
        store.for_user("12347")
        now[0] += 5.0  # 25 s in all: within the interval
    assert reads.count("meta#pointer") == 1
    now[0] += 5.0
    store.for_user("12347")
    assert reads.count("meta#pointer") == 2


def test_cache_only_lookups_never_read_dynamodb(store_for):
    store, reads = store_for()
    assert store.for_user("12347", cached_only=True) is None
    assert reads == []
    store.for_user("12347")
    assert store.for_user("12347", cached_only=True).cache == "hit"
    assert store.for_item("85123A", cached_only=True) is None
    assert len(reads) == 4  # pointer, experiment, global popular list, user


def test_stats_count_hits_and_misses_per_answer(store_for):
    store, _ = store_for()
    store.for_user("12347")
    store.for_user("12347")
    store.for_user("12347")
    snapshot = store.snapshot()
    assert (snapshot["hits"], snapshot["misses"], snapshot["model_version"]) == (2, 1, VERSION)
