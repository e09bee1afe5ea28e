"""The API's one settings object, read from the environment once per container.

Every field can be set as ``RECS_<FIELD>`` (for example ``RECS_TABLE_NAME``);
lists (``RECS_API_KEYS``, ``RECS_CORS_ORIGINS``) are comma-separated.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from lambda_api.auth import parse_keys

CommaList = Annotated[list[str], NoDecode]


class ApiSettings(BaseSettings):
    # hide_input_in_errors: a validation error must never carry a value (RECS_API_KEYS is a secret)
    model_config = SettingsConfigDict(env_prefix="RECS_", hide_input_in_errors=True)

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
        "public, max-age=60",
        description="Cache-Control of a non-degraded answer (degraded: no-store; behind keys: private)",
    )
    api_keys_secret: str | None = Field(
        None,
        description="a Secrets Manager secret (name or ARN) whose SecretString holds comma-separated keys",
    )

    # impressions (lambda_api.impressions): one record per answer
    impressions: Literal["stdout", "log_group", "off"] = Field(
        "stdout", description="stdout (Lambda ships it to the log group), log_group (sent by the API), or off"
    )
    impressions_log_group: str | None = Field(None, description="the log group of impressions = log_group")
    impressions_flush_seconds: float = Field(1.0, gt=0, description="how often log_group sends its queue")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys_follow_the_rule(cls, value: object) -> object:
        """One rule for every source of keys (``lambda_api.auth.parse_keys``)."""
        if isinstance(value, str):
            return parse_keys(value)
        if isinstance(value, list) and value:
            plain = (v.get_secret_value() if isinstance(v, SecretStr) else v for v in value)
            return parse_keys(",".join(plain))
        return value

    @model_validator(mode="after")
    def _log_group_named(self) -> ApiSettings:
        if self.impressions == "log_group" and not self.impressions_log_group:
            raise ValueError("RECS_IMPRESSIONS=log_group needs RECS_IMPRESSIONS_LOG_GROUP")
        return self

    @model_validator(mode="after")
    def _one_source_of_keys(self) -> ApiSettings:
        if self.api_keys and self.api_keys_secret:
            raise ValueError("set RECS_API_KEYS or RECS_API_KEYS_SECRET, not both")
        return self


@lru_cache(maxsize=1)
def get_settings() -> ApiSettings:
    return ApiSettings()
