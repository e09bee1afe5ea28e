"""The manifest's rules one by one (``pipeline.data.changed``), each with the exact words a user reads:
tests written against the mutants ``make mutate`` left alive."""

from __future__ import annotations

import hashlib

import pytest

from pipeline.data.changed import Loaded, grew_by_appending, prefix_sha256, refuse_change
from pipeline.data.sources import SourceFile, discover_local, sha256_of


def entry(path, size: int, checksum: str) -> Loaded:
    return Loaded(str(path), 1, size, checksum, 3, "2026-01-01 00:00:00")


@pytest.mark.parametrize("size", [0, 1, 2, 1 << 20, (1 << 20) + 1, (1 << 20) + 7])
def test_the_prefix_digest_covers_exactly_the_first_size_bytes(tmp_path, size):
    path = tmp_path / "log.csv"
    data = bytes(range(256)) * ((2 << 20) // 256)
    path.write_bytes(data)
    assert prefix_sha256(path, size) == "sha256:" + hashlib.sha256(data[:size]).hexdigest()


def test_a_file_that_did_not_grow_did_not_grow_by_appending(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id\nu1,i1\n")
    (source,) = discover_local(str(path))
    assert not grew_by_appending(source, entry(path, source.size, sha256_of(path)))


def test_a_grown_file_whose_prefix_is_the_loaded_bytes_grew_by_appending(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id\nu1,i1\n")
    loaded = entry(path, path.stat().st_size, sha256_of(path))
    with path.open("a") as f:
        f.write("u2,i2\n")
    (source,) = discover_local(str(path))
    assert grew_by_appending(source, loaded)


def test_an_s3_object_never_grew_by_appending_even_with_a_sha256_entry(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id\nu1,i1\n")
    loaded = entry(path, 5, prefix_sha256(path, 5))
    source = SourceFile("s3://bucket/log.csv", path.stat().st_size, lambda: "etag:x", lambda t: t)
    assert not grew_by_appending(source, loaded)


@pytest.mark.parametrize(
    ("mode", "how"),
    [
        ("fail", "and on_changed_file is 'fail'"),
        ("append", "not by rows added at its end of a CSV or JSON-lines file"),
    ],
)
def test_the_refusal_names_the_file_the_sizes_and_the_rule(tmp_path, mode, how):
    path = tmp_path / "log.csv"
    path.write_text("user_id,item_id\nu9,i9\n")
    (source,) = discover_local(str(path))
    error = refuse_change(source, entry(path, 12, "sha256:old"), mode)
    assert str(error) == (
        f"{source.name}: changed since it was loaded at 2026-01-01 00:00:00 (12 -> {source.size} bytes, "
        f"other content) {how}; a loaded file must keep its rows: restore it, give new rows a new file "
        "name, or set on_changed_file = 'append' for logs that only grow"
    )
