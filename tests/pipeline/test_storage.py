"""The storage layer: local paths and S3 prefixes (moto's server over HTTP) behave the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline import storage
from pipeline.settings import load_settings
from pipeline.storage import S3Path, StorageError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s3://my-bucket/artifacts", S3Path("my-bucket", "artifacts")),
        ("s3://my-bucket/state/warehouse.duckdb", S3Path("my-bucket", "state/warehouse.duckdb")),
        ("s3://my-bucket/a//b/", S3Path("my-bucket", "a/b")),
        ("s3://my-bucket", S3Path("my-bucket", "")),
        ("var/artifacts", Path("var/artifacts")),
        ("/data/[weird]*?.duckdb", Path("/data/[weird]*?.duckdb")),  # a local name is taken as it is
    ],
)
def test_locations_are_local_paths_or_s3_prefixes(text, expected):
    assert storage.location(text) == expected


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("s3://My_Bucket/x", "the bucket must be 3-63 lowercase"),
        ("s3:///x", "the bucket must be"),
        ("s3://bucket/../../etc", "without '.', '..'"),
        ("s3://bucket/a/./b", "without '.', '..'"),
        ("s3://bucket/a\\b", "without '.', '..' or '\\\\'"),
    ],
)
def test_a_bad_s3_uri_names_the_rule(text, rule):
    with pytest.raises(ValueError, match=rule):
        storage.location(text)


@given(st.lists(st.text(min_size=1, max_size=30).filter(lambda p: p not in (".", "..")), min_size=1))
def test_joined_keys_never_climb_out_of_the_prefix(parts):
    root = S3Path("bucket", "root")
    try:
        for part in parts:
            root = root / part
    except ValueError:
        return  # refused, naming the part
    assert root.key.startswith("root/")
    assert ".." not in root.key.split("/") and "" not in root.key.split("/")


def test_settings_take_s3_locations_from_the_environment_and_reach_the_jobs_endpoint(monkeypatch):
    monkeypatch.setenv("RECS_WAREHOUSE", "s3://recs-state/state/warehouse.duckdb")
    monkeypatch.setenv("RECS_ARTIFACTS_DIR", "s3://recs-state/artifacts")
    settings = load_settings(aws_endpoint_url="http://127.0.0.1:9", aws_region="eu-west-1")
    assert settings.warehouse == S3Path("recs-state", "state/warehouse.duckdb")
    assert settings.artifacts_dir.endpoint_url == "http://127.0.0.1:9"  # type: ignore[union-attr]
    assert settings.artifacts_dir.region == "eu-west-1"  # type: ignore[union-attr]
    shown = settings.model_dump(mode="json")
    assert shown["warehouse"] == "s3://recs-state/state/warehouse.duckdb"
    assert shown["artifacts_dir"] == "s3://recs-state/artifacts"


@pytest.fixture
def s3_root(bucket, local_aws) -> S3Path:
    return S3Path(bucket, "root", local_aws.endpoint_url, local_aws.region)


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path):
    return tmp_path / "root" if request.param == "local" else request.getfixturevalue("s3_root")


def test_the_same_operations_work_on_both_kinds_of_location(root, tmp_path):
    storage.write_bytes(root / "v1/meta.json", b'{"a": 1}')
    storage.write_bytes(root / "v1/ids.npz", b"\x00\x01")
    (tmp_path / "big.bin").write_bytes(b"x" * 100_000)
    storage.upload(tmp_path / "big.bin", root / "v2/model #1, é.bin")

    assert storage.read_bytes(root / "v1/meta.json") == b'{"a": 1}'
    assert storage.list_files(root) == ["v1/ids.npz", "v1/meta.json", "v2/model #1, é.bin"]
    assert storage.exists(root / "v1/meta.json") and not storage.exists(root / "v1/meta")
    copy = storage.download(root / "v2/model #1, é.bin", tmp_path / "copy" / "big.bin")
    assert copy.read_bytes() == b"x" * 100_000
    with pytest.raises(FileNotFoundError, match="missing.json"):
        storage.read_bytes(root / "missing.json")


def test_a_missing_bucket_is_named_with_what_to_do(local_aws):
    gone = S3Path("recs-no-such-bucket", "artifacts", local_aws.endpoint_url, local_aws.region)
    with pytest.raises(StorageError, match="bucket recs-no-such-bucket does not exist; create it"):
        storage.write_bytes(gone / "v1/meta.json", b"{}")
    with pytest.raises(StorageError, match="cannot list s3://recs-no-such-bucket/artifacts"):
        storage.list_files(gone)
