"""Publish's central promise: the pointer moves only after the new version's rows are verified.

Both ways verification can refuse (a count that does not match, a row that cannot be read
back) must leave readers on the old version, the new one unpublished, and nothing retired.
"""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from pipeline.errors import PublishError
from pipeline.publish import dynamo, registry, writer
from tests.pipeline.publish.fixtures import make_precomputed, pointer_version, run_publish


@pytest.fixture
def served_v1(dynamodb, table_name):
    """``v1`` published and served; returns the precomputed lists of the next version, ``v2``."""
    run_publish(dynamodb, table_name, "v1", make_precomputed(users=30, items=12, k=4, seed=1))
    return make_precomputed(users=30, items=12, k=4, seed=2)


def assert_still_serving_v1(client, table: str) -> None:
    assert pointer_version(client, table) == "v1"
    v1, v2 = registry.registry_entry(client, table, "v1"), registry.registry_entry(client, table, "v2")
    assert v1 is not None and v1.status == "published"
    assert v2 is not None and v2.status == "writing"


def test_a_count_that_does_not_match_leaves_the_pointer_on_the_served_version(
    dynamodb, table_name, served_v1
):
    keys = writer.check_keys(served_v1)
    registry.begin_version(
        dynamodb, table_name, "v2", rows=served_v1.n_rows, k=served_v1.k, metrics={}, ttl_days=3,
        digest=writer.rows_digest(served_v1), check_keys=keys,
    )  # fmt: skip
    counted = (served_v1.n_rows - 1, served_v1.n_rows)
    with pytest.raises(PublishError, match="acknowledged .* rows but the version has"):
        writer.finish_version(dynamodb, table_name, "v2", served_v1.k, counted, keys, keep_versions=1)
    assert_still_serving_v1(dynamodb, table_name)


def test_rows_acknowledged_but_not_stored_leave_the_pointer_on_the_served_version(
    local_aws, dynamodb, table_name, served_v1
):
    """DynamoDB answers every second BatchWriteItem with success without storing it: the read-back
    finds the holes and the flip is refused."""
    client = boto3.client("dynamodb", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    calls = []

    def lose_every_second(**_):
        calls.append(1)
        if len(calls) % 2 == 0:
            return AWSResponse("http://injected", 200, {}, None), {"UnprocessedItems": {}}
        return None

    client.meta.events.register("before-call.dynamodb.BatchWriteItem", lose_every_second)
    with pytest.raises(PublishError, match="sampled rows cannot be read back"):
        run_publish(client, table_name, "v2", served_v1, keep_versions=1)
    assert len(calls) >= 2
    assert_still_serving_v1(dynamodb, table_name)


def test_a_verified_version_is_marked_published_with_its_rows_and_the_time_of_the_flip(dynamodb, table_name):
    pre = make_precomputed(users=12, items=6, k=3, seed=3)
    before = time.time()
    run_publish(dynamodb, table_name, "v1", pre)
    after = time.time()
    entry = registry.registry_entry(dynamodb, table_name, "v1")
    assert entry is not None and (entry.status, entry.rows_done) == ("published", pre.n_rows)
    assert entry.published_at is not None
    assert before - 1e-6 <= entry.published_at <= after + 1e-6  # to the microsecond, not the second


def test_a_failed_read_back_names_how_many_rows_are_missing_and_the_first_three(dynamodb, table_name):
    dynamo.check_table(dynamodb, table_name, create=True)
    pks = [f"user#u{n}" for n in range(5)]
    with pytest.raises(PublishError) as err:
        writer.verify_version(dynamodb, table_name, "v9", written=0, expected=0, pks=pks)
    assert str(err.value) == (
        f"version v9: 5 of 5 sampled rows cannot be read back from table {table_name} "
        "(e.g. ['user#u0', 'user#u1', 'user#u2']); the pointer was not flipped"
    )
