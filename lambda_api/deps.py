"""FastAPI dependencies: the settings, the store (one boto3 client per container) and the API key check."""

from __future__ import annotations

import asyncio
import hmac
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from lambda_api.auth import read_secret_keys
from lambda_api.impressions import ImpressionSink, build_sink
from lambda_api.store import RecommendationStore

if TYPE_CHECKING:  # lambda_api.settings (pydantic-settings, ~30 ms) is imported by the first request
    from lambda_api.settings import ApiSettings

API_KEY_HEADER = "X-API-Key"
READ_THREADS = 16  # DynamoDB reads in flight at once per container (uvicorn); Lambda needs one


class Runtime:
    """An app's settings and store, built on first use (not at import, so the handler imports fast).

    Without explicit settings it uses the container's: ``get_settings()`` and ``get_store()``,
    each built once per container (tests reset them with ``cache_clear()``).
    """

    def __init__(self, settings: ApiSettings | None = None, store: RecommendationStore | None = None):
        self._settings = settings
        self._store = store
        self._lock = threading.Lock()
        self._readers: ThreadPoolExecutor | None = None
        self._keys: tuple[object, list[bytes]] | None = None  # (the settings they came from, the keys)
        self._impressions: ImpressionSink | None = None

    async def blocking(self, call: Callable, *args):
        """``call(*args)`` on a reader thread that outlives the event loop's run.

        Not ``run_in_threadpool``: anyio's threads end with each Mangum invocation, so every
        cache miss would start a new thread.
        """
        if self._readers is None:
            with self._lock:
                self._readers = self._readers or ThreadPoolExecutor(READ_THREADS, "dynamodb-read")
        return await asyncio.get_running_loop().run_in_executor(self._readers, call, *args)

    @property
    def settings(self) -> ApiSettings:
        if self._settings is None:
            from lambda_api.settings import get_settings

            return get_settings()
        return self._settings

    async def api_keys(self) -> list[bytes]:
        """The accepted API keys (none: authentication is off): the settings', or their secret's.

        A secret is read once per container (per settings object); a failed read is not kept,
        so the next request tries again.
        """
        settings = self.settings
        if self._keys is None or self._keys[0] is not settings:
            if settings.api_keys_secret:
                client = aws_client("secretsmanager", settings)
                keys = await self.blocking(read_secret_keys, client, settings.api_keys_secret)
            else:
                keys = [k.get_secret_value() for k in settings.api_keys]
            self._keys = (settings, [k.encode() for k in keys])
        return self._keys[1]

    @property
    def impressions(self) -> ImpressionSink:
        """Where this container's impression records go (``lambda_api.impressions``), built once."""
        if self._impressions is None:
            with self._lock:
                if self._impressions is None:
                    settings = self.settings
                    self._impressions = build_sink(settings, lambda: aws_client("logs", settings))
        return self._impressions

    @property
    def store(self) -> RecommendationStore:
        if self._settings is None and self._store is None:
            return get_store()
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = build_store(self.settings)
        return self._store


@lru_cache(maxsize=1)
def get_store() -> RecommendationStore:
    """The container's store: one boto3 client, one cache."""
    from lambda_api.settings import get_settings

    return build_store(get_settings())


def dynamodb_client(settings: ApiSettings):
    """A boto3 DynamoDB client with short timeouts and a bounded number of attempts."""
    import boto3  # imported on first use: keeps the handler's cold import short
    from botocore.config import Config

    config = Config(
        connect_timeout=settings.dynamodb_connect_timeout,
        read_timeout=settings.dynamodb_read_timeout,
        retries={"total_max_attempts": settings.dynamodb_max_attempts, "mode": "standard"},
        max_pool_connections=20,
    )
    return boto3.client(
        "dynamodb", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url, config=config
    )


def aws_client(service: str, settings: ApiSettings):
    """A boto3 client of ``service`` in the settings' region and endpoint."""
    import boto3

    return boto3.client(service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)


def build_store(settings: ApiSettings, client=None) -> RecommendationStore:
    return RecommendationStore(
        client or dynamodb_client(settings),
        settings.table_name,
        pointer_refresh_seconds=settings.pointer_refresh_seconds,
        cache_ttl_seconds=settings.cache_ttl_seconds,
        cache_max_entries=settings.cache_max_entries,
        failure_backoff_seconds=settings.failure_backoff_seconds,
    )


# The dependencies are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency on a worker
# thread, and under Mangum every invocation would start a new one (about 1 ms each).


async def current_store(request: Request) -> RecommendationStore:
    return request.app.state.runtime.store


async def current_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


Rt = Annotated[Runtime, Depends(current_runtime)]
Store = Annotated[RecommendationStore, Depends(current_store)]

_api_key = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="required when the API runs with RECS_API_KEYS or RECS_API_KEYS_SECRET set",
)


async def require_api_key(request: Request, key: Annotated[str | None, Security(_api_key)]) -> None:
    """401 unless authentication is off or the X-API-Key header holds one of the configured keys."""
    keys = await request.app.state.runtime.api_keys()  # not a sub-dependency: each costs ~30 µs a request
    if not keys:
        return
    if not key:
        raise HTTPException(401, f"missing {API_KEY_HEADER} header", headers={"WWW-Authenticate": "ApiKey"})
    given = key.encode()
    matches = [hmac.compare_digest(given, k) for k in keys]
    if not any(matches):
        raise HTTPException(401, f"invalid {API_KEY_HEADER}", headers={"WWW-Authenticate": "ApiKey"})
