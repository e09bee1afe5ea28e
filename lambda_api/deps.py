"""FastAPI dependencies: the settings and the store, built once per container."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import Depends

from lambda_api.settings import ApiSettings, get_settings
from lambda_api.store import RecommendationStore


@lru_cache(maxsize=1)
def get_store() -> RecommendationStore:
    import boto3  # imported on first use: keeps the handler's cold import short

    settings = get_settings()
    client = boto3.client("dynamodb", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    return RecommendationStore(
        client,
        settings.table_name,
        pointer_refresh_seconds=settings.pointer_refresh_seconds,
        cache_ttl_seconds=settings.cache_ttl_seconds,
        cache_max_entries=settings.cache_max_entries,
    )


Settings = Annotated[ApiSettings, Depends(get_settings)]
Store = Annotated[RecommendationStore, Depends(get_store)]
