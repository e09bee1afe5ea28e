"""The served version and its rollback target never expire under the API (issue #12, item 14)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import contract
from pipeline.publish import expiry, registry, versions
from pipeline.publish.versions import RollbackError
from tests.pipeline.publish.fixtures import make_precomputed, run_publish, version_rows_in_table

DAY = 86400


def save_ids(root, version: str, pre) -> None:
    """The id maps of a version's artifact, as ``artifact.save`` lays them out."""
    (root / version).mkdir(parents=True)
    np.savez(root / version / "ids.npz", user_ids=pre.user_ids.astype(str), item_ids=pre.item_ids.astype(str))


def expiries(dynamodb, table: str, version: str) -> set[int]:
    return {int(row[contract.TTL_ATTRIBUTE]["N"]) for row in version_rows_in_table(dynamodb, table, version)}


@pytest.fixture
def two_versions(dynamodb, table_name, tmp_path):
    pres = {v: make_precomputed(6, 5, 3, seed=n) for n, v in enumerate(["V1", "V2"])}
    for version, pre in pres.items():
        run_publish(dynamodb, table_name, version, pre)  # ttl_days=3
        save_ids(tmp_path / "artifacts", version, pre)
    return pres


def test_nights_without_a_publish_keep_the_served_and_previous_versions_alive(
    dynamodb, table_name, tmp_path, two_versions
):
    entry = registry.registry_entry(dynamodb, table_name, "V2")
    later = entry.expires_at - DAY  # one of the three days left: under half, so extend
    done = expiry.keep_alive(dynamodb, table_name, tmp_path / "artifacts", ttl_days=3, now=later)
    assert [(e.version, e.rows) for e in done] == [
        ("V2", two_versions["V2"].n_rows),
        ("V1", two_versions["V1"].n_rows),
    ]
    for version in ("V1", "V2"):
        assert expiries(dynamodb, table_name, version) == {int(later) + 3 * DAY}
        assert registry.registry_entry(dynamodb, table_name, version).expires_at == int(later) + 3 * DAY
    # the next night, with more than half left, writes nothing
    assert expiry.keep_alive(dynamodb, table_name, tmp_path / "artifacts", ttl_days=3, now=later + 3600) == []


def test_a_version_without_its_artifact_cannot_be_extended_and_the_run_says_so(
    dynamodb, table_name, tmp_path, two_versions, caplog
):
    entry = registry.registry_entry(dynamodb, table_name, "V2")
    with caplog.at_level(logging.ERROR, logger="pipeline.publish.expiry"):
        done = expiry.keep_alive(
            dynamodb, table_name, tmp_path / "elsewhere", ttl_days=3, now=entry.expires_at - DAY
        )
    assert done == []
    assert any("its rows cannot be extended; publish a new version" in r.getMessage() for r in caplog.records)
    assert expiries(dynamodb, table_name, "V2") == {entry.expires_at}


def test_a_rollback_to_a_version_about_to_expire_is_refused(dynamodb, table_name, two_versions):
    entry = registry.registry_entry(dynamodb, table_name, "V1")
    with pytest.raises(RollbackError, match=r"expire at .*, less than 24 hours from now: readers would lose"):
        versions.rollback(dynamodb, table_name, now=entry.expires_at - 3600)
    assert registry.current_pointer(dynamodb, table_name).version == "V2"
    assert versions.rollback(dynamodb, table_name, now=entry.expires_at - 2 * DAY).to_version == "V1"
