"""The API's one settings object, read from the environment once per container."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECS_")

    table_name: str = Field(description="the DynamoDB table the pipeline publishes to (required)")
    aws_region: str = Field(
        "us-east-1", validation_alias=AliasChoices("RECS_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
    )
    aws_endpoint_url: str | None = Field(
        None, validation_alias=AliasChoices("RECS_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    default_k: int = Field(10, ge=1)
    pointer_refresh_seconds: float = Field(30.0, gt=0, description="how stale the served version may be")
    cache_ttl_seconds: float = Field(300.0, gt=0)
    cache_max_entries: int = Field(50_000, ge=1)


@lru_cache(maxsize=1)
def get_settings() -> ApiSettings:
    return ApiSettings()
