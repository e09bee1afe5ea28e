"""Fixtures of the data tests: fresh real DuckDB warehouses, and a bucket on the local moto S3."""

from __future__ import annotations

import uuid

import boto3
import pandas as pd
import pytest

from pipeline.data import warehouse
from pipeline.data.ingest import ingest


@pytest.fixture
def load(tmp_path):
    """Ingest a frame into a fresh warehouse and return the open connection."""
    cons = []

    def _load(frame: pd.DataFrame):
        path = tmp_path / f"events-{len(cons)}.parquet"
        frame.to_parquet(path, index=False)
        con = warehouse.connect(tmp_path / f"w{len(cons)}.duckdb")
        ingest(con, [path])
        cons.append(con)
        return con

    yield _load
    for con in cons:
        con.close()


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        yield con


@pytest.fixture
def bucket(local_aws):
    s3 = boto3.client("s3", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    name = f"events-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return s3, name
