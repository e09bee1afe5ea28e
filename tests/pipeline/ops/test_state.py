"""The warehouse state in S3: snapshots named by a pointer switched last (moto's server over HTTP)."""

from __future__ import annotations

import pytest

from pipeline import storage
from pipeline.ops import state
from pipeline.settings import load_settings
from pipeline.storage import S3Path


@pytest.fixture
def remote(bucket, local_aws) -> S3Path:
    return S3Path(bucket, "state/warehouse.duckdb", local_aws.endpoint_url, local_aws.region)


def test_each_save_is_a_new_snapshot_and_the_old_ones_are_tagged_for_expiry(remote, tmp_path):
    local = tmp_path / "w.duckdb"
    assert state.restore(remote, tmp_path / "empty.duckdb") is None  # before the first save
    assert not (tmp_path / "empty.duckdb").exists()

    local.write_bytes(b"night one")
    one = state.save(local, remote, restored=None)
    local.write_bytes(b"night two, longer")
    two = state.save(local, remote, restored=one)

    assert state.current(remote) == two and two.size_bytes == len(b"night two, longer")
    assert one.snapshot != two.snapshot and one.snapshot.startswith("state/warehouse.duckdb.snapshots/")
    old, new = (S3Path(remote.bucket, s.snapshot, remote.endpoint_url) for s in (one, two))
    assert storage.tags(old) == {"recs-state": "superseded"}
    assert storage.tags(new) == {}
    assert storage.read_bytes(old) == b"night one"  # kept, for a manual rollback

    assert state.restore(remote, tmp_path / "copy.duckdb") == two
    assert (tmp_path / "copy.duckdb").read_bytes() == b"night two, longer"


def test_a_save_over_a_state_that_moved_on_is_refused(remote, tmp_path):
    local = tmp_path / "w.duckdb"
    local.write_bytes(b"a")
    first = state.save(local, remote, restored=None)
    state.save(local, remote, restored=first)  # another run saved meanwhile
    with pytest.raises(state.StateError, match="changed during this run"):
        state.save(local, remote, restored=first)


def test_a_snapshot_whose_size_disagrees_with_the_pointer_is_refused(remote, tmp_path):
    local = tmp_path / "w.duckdb"
    local.write_bytes(b"abc")
    saved = state.save(local, remote, restored=None)
    storage.write_bytes(S3Path(remote.bucket, saved.snapshot, remote.endpoint_url), b"ab")
    with pytest.raises(state.StateError, match="has 2 bytes, its pointer says 3"):
        state.restore(remote, tmp_path / "copy.duckdb")


def test_a_warehouse_naming_only_a_bucket_is_refused():
    settings = load_settings(warehouse="s3://recs-b1")
    with pytest.raises(state.StateError, match="names a bucket only"), state.restored(settings):
        pass
