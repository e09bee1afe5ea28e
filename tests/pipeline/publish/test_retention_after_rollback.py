"""Retention after a rollback: the version rolled back to, and the one it replaced, survive the next
publish as long as keep_versions allows (issue #12, item 11)."""

from __future__ import annotations

from pipeline.publish import registry, versions
from tests.pipeline.publish.fixtures import make_precomputed, pointer_version, run_publish


def statuses(dynamodb, table: str) -> dict[str, str]:
    return {e.version: e.status for e in registry.list_registry(dynamodb, table)}


def test_rollback_then_publish_keeps_the_version_rolled_back_to(dynamodb, table_name):
    for seed, version in enumerate(["V1", "V2"]):
        run_publish(dynamodb, table_name, version, make_precomputed(6, 5, 3, seed=seed), keep_versions=2)
    versions.rollback(dynamodb, table_name)  # V2 -> V1
    report = run_publish(dynamodb, table_name, "V3", make_precomputed(6, 5, 3, seed=3), keep_versions=2)
    assert pointer_version(dynamodb, table_name) == "V3"
    assert registry.current_pointer(dynamodb, table_name).previous == "V1"
    assert statuses(dynamodb, table_name) == {"V3": "published", "V1": "published", "V2": "retired"}
    assert report.retired == ("V2",)
    back = versions.rollback(dynamodb, table_name)  # the previous version is a rollback target
    assert (back.from_version, back.to_version) == ("V3", "V1")


def test_keep_one_version_still_retires_everything_but_the_served_one(dynamodb, table_name):
    for seed, version in enumerate(["V1", "V2"]):
        run_publish(dynamodb, table_name, version, make_precomputed(6, 5, 3, seed=seed), keep_versions=1)
    assert statuses(dynamodb, table_name) == {"V2": "published", "V1": "retired"}
