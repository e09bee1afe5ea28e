"""Settings for the integration runs: a tmp warehouse and artifacts, the session's moto table."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def run_settings(tmp_path, local_aws, table_name) -> Callable:
    """Settings of a small nightly run in ``tmp_path`` against the local AWS; ``overrides`` on top."""
    from pipeline.settings import load_settings

    def make(**overrides):
        defaults = {
            "warehouse": tmp_path / "warehouse.duckdb",
            "artifacts_dir": tmp_path / "artifacts",
            "table_name": table_name,
            "aws_endpoint_url": local_aws.endpoint_url,
            "holdout_days": 2,
            "min_lift_over_popular": -1.0,
            "publish_workers": 2,
        }
        return load_settings(**(defaults | overrides))

    return make
