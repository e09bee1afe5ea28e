"""Sources: which files an ingest call names (files, directories, globs, S3), and the errors when none."""

from __future__ import annotations

import boto3
import pytest

from pipeline.data.ingest import IngestError, ingest
from tests.pipeline.data.logs import events, write


def test_directory_and_glob_sources(con, tmp_path):
    write(events(2, day=1), tmp_path / "logs" / "a.parquet")
    write(events(3, day=2), tmp_path / "logs" / "nested" / "b.csv")
    (tmp_path / "logs" / "notes.txt").write_text("not events")
    assert ingest(con, [tmp_path / "logs"]).rows_loaded == 5
    write(events(1, day=3), tmp_path / "more" / "c.parquet")
    assert ingest(con, [f"{tmp_path}/more/*.parquet"]).rows_loaded == 1


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "missing.parquet", "{p}/missing.parquet: no such file or directory"),
        (lambda p: p, "{p}: directory holds no .parquet/.csv/.jsonl/.ndjson/.json files"),
        (lambda p: p / "*.csv", "{p}/*.csv: pattern matches no .parquet/.csv/.jsonl/.ndjson/.json files"),
    ],
)
def test_sources_that_name_no_files_fail(con, tmp_path, make, message):
    with pytest.raises(IngestError) as err:
        ingest(con, [make(tmp_path)])
    assert str(err.value) == message.format(p=tmp_path)


def test_unsupported_file_type_fails(con, tmp_path):
    path = tmp_path / "events.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(IngestError, match=r"events.xlsx: unsupported file type \(expected .parquet/"):
        ingest(con, [path])


def test_s3_prefix_without_event_files_fails(con, bucket):
    s3, name = bucket
    with pytest.raises(
        IngestError, match=rf"^s3://{name}/nothing/: no .parquet/.csv/.jsonl/.ndjson/.json objects"
    ):
        ingest(con, [f"s3://{name}/nothing/"], s3_client=lambda: s3)


def test_missing_bucket_fails_naming_the_source(con, local_aws):
    s3 = boto3.client("s3", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    with pytest.raises(
        IngestError, match=r"^s3://no-such-bucket-here/x/: cannot list S3 objects: .*NoSuchBucket"
    ):
        ingest(con, ["s3://no-such-bucket-here/x/"], s3_client=lambda: s3)
