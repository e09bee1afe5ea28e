"""Reads the published rows from DynamoDB, through an in-process cache.

Readers resolve the current-version pointer first (re-read at most every
``pointer_refresh_seconds``), then the row under that version, so an answer
never mixes versions and a flip or rollback reaches a warm container within
the refresh interval.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Literal

from cachetools import TLRUCache

from lambda_api import contract


class NotPublishedError(Exception):
    """No model version has been published to the table yet."""


@dataclass(frozen=True)
class Lookup:
    version: str
    ranked: contract.RankedItems
    source: Literal["personal", "fallback"]


class RecommendationStore:
    def __init__(
        self,
        client,
        table: str,
        pointer_refresh_seconds: float = 30.0,
        cache_ttl_seconds: float = 300.0,
        cache_max_entries: int = 50_000,
    ):
        self._client = client
        self._table = table
        self._pointer_refresh = pointer_refresh_seconds
        self._pointer: contract.Pointer | None = None
        self._pointer_read_at = float("-inf")
        self._rows: TLRUCache = TLRUCache(
            maxsize=cache_max_entries, ttu=lambda _k, _v, now: now + cache_ttl_seconds, timer=time.monotonic
        )
        self._lock = threading.Lock()

    def pointer(self) -> contract.Pointer:
        """The version being served, re-read from the table at most every refresh interval."""
        now = time.monotonic()
        if now - self._pointer_read_at >= self._pointer_refresh:
            item = self._client.get_item(TableName=self._table, Key=contract.POINTER_KEY).get("Item")
            self._pointer = contract.decode_pointer(item) if item else None
            self._pointer_read_at = now
        if self._pointer is None:
            raise NotPublishedError(f"no model version is published in table {self._table}")
        return self._pointer

    def row(self, pk: str, version: str) -> contract.RankedItems | None:
        key = (pk, version)
        with self._lock:
            if key in self._rows:
                return self._rows[key]
        item = self._client.get_item(TableName=self._table, Key=contract.row_key(pk, version)).get("Item")
        ranked = contract.decode_row(item) if item else None
        with self._lock:
            self._rows[key] = ranked
        return ranked

    def for_user(self, user_id: str) -> Lookup:
        """The user's own list, or the global popular list for a user the model does not know."""
        version = self.pointer().version
        ranked = self.row(contract.user_pk(user_id), version)
        if ranked is not None:
            return Lookup(version, ranked, "personal")
        return Lookup(version, self.popular(version), "fallback")

    def popular(self, version: str) -> contract.RankedItems:
        ranked = self.row(contract.popular_pk(), version)
        if ranked is None:
            raise NotPublishedError(f"version {version} has no popular list in table {self._table}")
        return ranked
