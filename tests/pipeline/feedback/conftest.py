"""Fixtures of the feedback tests: a fresh real warehouse, and a bucket on the local moto S3."""

from __future__ import annotations

import uuid

import boto3
import pytest

from pipeline.data import warehouse


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        yield con


@pytest.fixture
def bucket(local_aws):
    s3 = boto3.client("s3", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    name = f"recs-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return s3, name
