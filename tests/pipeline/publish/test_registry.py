"""The registry and the pointer: a conditional flip, retention of published versions."""

from __future__ import annotations

import pytest

import contract
from pipeline.errors import PublishError
from pipeline.publish import registry
from tests.pipeline.publish.fixtures import make_precomputed, pointer_version, run_publish


def test_keep_versions_1_retires_every_version_but_the_served_one(dynamodb, table_name):
    run_publish(dynamodb, table_name, "v1", make_precomputed(5, 6, 3, seed=1), keep_versions=1)
    report = run_publish(dynamodb, table_name, "v2", make_precomputed(5, 6, 3, seed=2), keep_versions=1)
    assert report.retired == ("v1",)


def test_the_flip_is_refused_when_the_pointer_changes_under_it(dynamodb, table_name, local_aws):
    import boto3

    other = boto3.client("dynamodb", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    run_publish(dynamodb, table_name, "v1", make_precomputed(4, 5, 2, seed=1))

    def someone_else_flips_first(params, **_):
        if params.get("Item", {}).get("pk", {}).get("S") == "meta#pointer":
            other.put_item(TableName=table_name, Item=contract.encode_pointer(contract.Pointer("vX", 2), 1))

    dynamodb.meta.events.register("before-parameter-build.dynamodb.PutItem", someone_else_flips_first)
    try:
        with pytest.raises(PublishError, match=f"pointer of table {table_name} changed while flipping it"):
            registry.flip_pointer(dynamodb, table_name, "v2", 2)
    finally:
        dynamodb.meta.events.unregister("before-parameter-build.dynamodb.PutItem", someone_else_flips_first)
    assert pointer_version(dynamodb, table_name) == "vX"
