"""API fixtures: a small published version in a real moto table, and apps that read it."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lambda_api.app import create_app
from lambda_api.settings import ApiSettings
from tests.lambda_api.api_fixtures import create_table, put_version


@pytest.fixture(scope="session")
def published(local_aws, dynamodb) -> str:
    """A table holding one published version (shared: tests must not write to it)."""
    table = f"recs-api-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, table)
    put_version(dynamodb, table)
    return table


@pytest.fixture
def empty_table(local_aws, dynamodb, table_name) -> str:
    """A table with nothing published."""
    create_table(dynamodb, table_name)
    return table_name


@pytest.fixture
def settings_for(local_aws) -> Callable[..., ApiSettings]:
    def make(table: str, **overrides) -> ApiSettings:
        endpoint = {"aws_endpoint_url": local_aws.endpoint_url, "aws_region": local_aws.region}
        return ApiSettings(table_name=table, **{**endpoint, **overrides})

    return make


@pytest.fixture
def app_for(settings_for) -> Callable[..., FastAPI]:
    def make(table: str, **overrides) -> FastAPI:
        return create_app(settings_for(table, **overrides))

    return make


@pytest.fixture
def api(app_for, published) -> TestClient:
    """The app on the published table, without API keys."""
    return TestClient(app_for(published), raise_server_exceptions=False)
