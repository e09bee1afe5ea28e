"""Fixtures of the feedback tests: the data tests' fresh real warehouse and local-S3 bucket."""

from tests.pipeline.data.conftest import bucket, con

__all__ = ["bucket", "con"]
