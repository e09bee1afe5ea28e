"""The API's one settings object, read from the environment once per container.

Every field can be set as ``RECS_<FIELD>`` (for example ``RECS_TABLE_NAME``);
lists (``RECS_API_KEYS``, ``RECS_CORS_ORIGINS``) are comma-separated.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[list[str], NoDecode]


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECS_")

    table_name: str = Field(min_length=3, description="the DynamoDB table the pipeline publishes to")
    aws_region: str = Field(
        "us-east-1", validation_alias=AliasChoices("RECS_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
    )
    aws_endpoint_url: str | None = Field(
        None, validation_alias=AliasChoices("RECS_AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    default_k: int = Field(10, ge=1)

    # cache
    pointer_refresh_seconds: float = Field(30.0, gt=0, description="how stale the served version may be")
    cache_ttl_seconds: float = Field(300.0, gt=0, description="how long a row is served before re-reading")
    cache_max_entries: int = Field(50_000, ge=1)

    # DynamoDB: short timeouts and few attempts, so a sick table costs a bounded time per request
    dynamodb_connect_timeout: float = Field(0.5, gt=0)
    dynamodb_read_timeout: float = Field(0.5, gt=0)
    dynamodb_max_attempts: int = Field(2, ge=1, le=10, description="tries per call, the first included")
    failure_backoff_seconds: float = Field(
        2.0, ge=0, description="after a failed DynamoDB call, answer from the cache alone for this long"
    )
    retry_after_seconds: int = Field(5, ge=1, description="Retry-After of a 503")

    # HTTP
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="accepted X-API-Key values; empty disables authentication"
    )
    cors_origins: CommaList = Field(default_factory=list, description='allowed origins; "*" for any')
    cache_control: str = Field(
        "public, max-age=60", description="Cache-Control of a non-degraded answer (degraded: no-store)"
    )

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _keys_long_enough(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for key in keys:
            if len(key.get_secret_value()) < 16:
                raise ValueError("every API key must be at least 16 characters long")
        return keys


@lru_cache(maxsize=1)
def get_settings() -> ApiSettings:
    return ApiSettings()
