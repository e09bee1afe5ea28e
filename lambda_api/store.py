"""Reads the published rows from DynamoDB, through a bounded in-process cache.

Readers resolve the current-version pointer first (re-read at most every
``pointer_refresh_seconds``), then the row under that version, so a fresh answer
never mixes versions and a flip or rollback reaches a warm container within the
refresh interval.

With an experiment running (``contract.Experiment``, read with the pointer and as often), a
user's lists are read under the version of the user's arm instead, and the answer names the
experiment and the arm. Similar-item answers have no user to bucket: they stay on the pointer's
version, outside the experiment. Rows of a version other than the pointer's are cached under
(version, key), so two arms never evict each other's popular lists.

The cache is one LRU of at most ``cache_max_entries`` rows, keyed by partition key;
an entry younger than ``cache_ttl_seconds`` and of the current version is a hit.
Older entries stay until evicted: when DynamoDB fails (throttled, slow,
unreachable) they are served as the *last good* answer, marked degraded, and for
``failure_backoff_seconds`` after a failure no request waits on DynamoDB again.
Unknown keys are cached too (as "absent"), so unknown users cost one read per TTL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from cachetools import LRUCache

import contract
from lambda_api.rules import AvailabilityCache, CategoryTables, MissingCategoryTableError

log = logging.getLogger(__name__)

Source = Literal["personal", "fallback"]
CacheState = Literal["hit", "miss", "stale"]


class NotPublishedError(Exception):
    """No model version (or no popular list for it) has been published to the table."""


class StoreUnavailableError(Exception):
    """DynamoDB could not be read and nothing usable is cached."""


class _NeedsRead(Exception):
    """Raised in cache-only mode when an answer needs a DynamoDB read."""


@dataclass(frozen=True, slots=True)
class Entry:
    version: str
    ranked: contract.RankedItems | None  # None: the key is absent under ``version``
    read_at: float


@dataclass(frozen=True, slots=True)
class Lookup:
    """A stored list chosen for one request, and how it was obtained."""

    version: str
    ranked: contract.RankedItems
    source: Source
    segment: str | None  # the popular segment of a fallback
    degraded: bool
    cache: CacheState
    k: int  # how many items each row of the served version holds
    experiment: str | None = None  # the running experiment the user was bucketed in
    arm: contract.Arm | None = None


@dataclass(frozen=True, slots=True)
class _Serving:
    """The version one request is answered from, and the experiment arm that chose it."""

    version: str
    k: int
    experiment: str | None = None
    arm: contract.Arm | None = None


@dataclass
class _Pass:
    """The state of one lookup: whether it may read DynamoDB, and what it had to do."""

    cached_only: bool
    state: CacheState = "hit"
    unavailable: bool = False

    def saw(self, state: CacheState) -> None:
        order = ("hit", "miss", "stale")
        if order.index(state) > order.index(self.state):
            self.state = state


@dataclass
class Stats:
    hits: int = 0
    misses: int = 0
    stale: int = 0
    dynamodb_errors: int = 0
    unavailable: int = 0

    def count(self, state: CacheState) -> None:
        if state == "hit":
            self.hits += 1
        elif state == "miss":
            self.misses += 1
        else:
            self.stale += 1


class RecommendationStore:
    def __init__(
        self,
        client,
        table: str,
        pointer_refresh_seconds: float = 30.0,
        cache_ttl_seconds: float = 300.0,
        cache_max_entries: int = 50_000,
        failure_backoff_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        from botocore.exceptions import BotoCoreError, ClientError  # with the client, not at import

        self._client = client
        self._table = table
        self._pointer_refresh = pointer_refresh_seconds
        self._ttl = cache_ttl_seconds
        self._backoff = failure_backoff_seconds
        self._clock = clock
        self._errors = (BotoCoreError, ClientError)
        self._pointer: contract.Pointer | None = None
        self._pointer_read_at = float("-inf")
        self._experiment: contract.Experiment | None = None
        self._down_until = float("-inf")
        self._rows: LRUCache = LRUCache(maxsize=cache_max_entries)
        self._lock = threading.Lock()
        self.stats = Stats()
        # items not to recommend during the day, re-read like the pointer (lambda_api.rules)
        self.availability = AvailabilityCache(
            self.read_item, table, pointer_refresh_seconds, clock, (StoreUnavailableError,)
        )
        self.categories = CategoryTables(self.read_item, table)  # each version's, read once (rules)

    @property
    def table(self) -> str:
        return self._table

    # -- the answers ---------------------------------------------------------------------------

    def for_user(self, user_id: str, segment: str | None = None, cached_only: bool = False) -> Lookup | None:
        """The user's own list, else the popular list of ``segment`` (if published), else the global one.

        With ``cached_only``, returns None instead of reading DynamoDB.
        """
        return self._answer(lambda p: self._find(contract.user_pk(user_id), segment, p, user_id), cached_only)

    def popular(
        self, segment: str | None = None, user_id: str | None = None, cached_only: bool = False
    ) -> Lookup | None:
        """The popular list of ``segment`` (if published), else the global one: to fill a short list
        (under the version of ``user_id``'s arm, when given and an experiment runs)."""
        return self._answer(lambda p: self._find(None, segment, p, user_id), cached_only)

    def for_item(self, item_id: str, cached_only: bool = False) -> Lookup | None:
        """Items similar to ``item_id``, else the global popular list."""
        return self._answer(lambda p: self._find(contract.item_pk(item_id), None, p), cached_only)

    def probe(self) -> contract.Pointer:
        """Read the pointer now: raises unless the table answers and a version is published."""
        p = _Pass(cached_only=False)
        self._refresh_pointer(self._clock(), p)
        if p.unavailable:
            raise StoreUnavailableError(f"DynamoDB table {self._table} cannot be read")
        if self._pointer is None:
            raise NotPublishedError(f"no model version is published in table {self._table}")
        return self._pointer

    def snapshot(self) -> dict:
        """Counters and state for /stats."""
        now = self._clock()
        return {
            "model_version": self._pointer.version if self._pointer else None,
            "pointer_age_seconds": round(now - self._pointer_read_at, 3) if self._pointer else None,
            "dynamodb_backoff": now < self._down_until,
            "cache_entries": len(self._rows),
            "cache_max_entries": self._rows.maxsize,
            "hits": self.stats.hits,
            "misses": self.stats.misses,
            "stale": self.stats.stale,
            "dynamodb_errors": self.stats.dynamodb_errors,
            "unavailable": self.stats.unavailable,
        }

    def about(self, item_ids: list[str], cached_only: bool = False) -> dict[str, tuple] | None:
        """Each item's (name, category) from its own row under the served version, cached like any
        row (``?include=metadata``); items without one are left out. With ``cached_only``, None
        instead of reading DynamoDB."""
        p = _Pass(cached_only)
        try:
            pointer, _ = self._current_pointer(p)
            entries = {i: self._row(contract.item_pk(i), pointer.version, p) for i in item_ids}
        except _NeedsRead:
            return None
        return {i: e.ranked.about for i, e in entries.items() if e and e.ranked and e.ranked.about}

    def read_item(self, key: dict, what: str) -> dict | None:
        """One item (None if absent); ``StoreUnavailableError`` when DynamoDB fails or is in back-off."""
        item = self._get(key, what, self._clock(), _Pass(cached_only=False))
        if item is _UNREAD:
            raise StoreUnavailableError(f"DynamoDB table {self._table} cannot be read for {what}")
        return item

    # -- one lookup ----------------------------------------------------------------------------

    def _answer(self, find: Callable[[_Pass], Lookup], cached_only: bool) -> Lookup | None:
        state = _Pass(cached_only)
        try:
            found = find(state)
        except _NeedsRead:
            return None
        except StoreUnavailableError:
            self.stats.unavailable += 1
            raise
        self.stats.count(found.cache)
        return found

    def _find(self, pk: str | None, segment: str | None, p: _Pass, user_id: str | None = None) -> Lookup:
        pointer, pointer_stale = self._current_pointer(p)
        serving = self._serving(pointer, user_id)
        entry = self._row(pk, serving.version, p) if pk is not None else None
        if entry is not None and entry.ranked is not None:
            return self._lookup(entry, "personal", None, p, serving, pointer_stale)
        for name in contract.fallback_segments(segment):
            popular = self._row(contract.popular_pk(name), serving.version, p)
            if popular is not None and popular.ranked is not None:
                return self._lookup(popular, "fallback", name, p, serving, pointer_stale)
        if p.unavailable:
            raise StoreUnavailableError(
                f"DynamoDB table {self._table} cannot be read and no fallback list is cached"
            )
        raise NotPublishedError(f"model version {serving.version} has no popular list in table {self._table}")

    def _serving(self, pointer: contract.Pointer, user_id: str | None) -> _Serving:
        """The pointer's version, or the version of the user's arm while an experiment runs."""
        experiment = self._experiment
        if user_id is None or experiment is None or not experiment.running:
            return _Serving(pointer.version, pointer.k)
        arm = experiment.arm_of(user_id)
        return _Serving(experiment.version_of(arm), experiment.k_of(arm) or pointer.k, experiment.name, arm)

    @staticmethod
    def _lookup(
        entry: Entry, source: Source, segment: str | None, p: _Pass, serving: _Serving, stale: bool
    ) -> Lookup:
        assert entry.ranked is not None  # callers pass entries of present keys only
        degraded = stale or p.unavailable or p.state == "stale"
        state: CacheState = "stale" if degraded else p.state
        return Lookup(
            entry.version,
            entry.ranked,
            source,
            segment,
            degraded,
            state,
            serving.k,
            serving.experiment,
            serving.arm,
        )

    # -- the pointer ---------------------------------------------------------------------------

    def _current_pointer(self, p: _Pass) -> tuple[contract.Pointer, bool]:
        """The pointer, and whether it is overdue for a refresh that could not be made."""
        now = self._clock()
        if now - self._pointer_read_at >= self._pointer_refresh:
            if p.cached_only:
                raise _NeedsRead
            self._refresh_pointer(now, p)
        if self._pointer is None:
            if p.unavailable:
                raise StoreUnavailableError(f"DynamoDB table {self._table} cannot be read")
            raise NotPublishedError(f"no model version is published in table {self._table}")
        return self._pointer, now - self._pointer_read_at >= self._pointer_refresh

    def _refresh_pointer(self, now: float, p: _Pass) -> None:
        item = self._get(contract.POINTER_KEY, "the version pointer", now, p)
        if item is _UNREAD:
            return
        pointer = contract.decode_pointer(item) if item else None
        if pointer != self._pointer:
            log.info(
                "serving model version %s (was %s); cache: %s",
                pointer.version if pointer else None,
                self._pointer.version if self._pointer else None,
                self.snapshot(),
            )
        self._pointer, self._pointer_read_at = pointer, now
        self._refresh_experiment(now, p)
        if pointer is not None:
            self._row(contract.popular_pk(), pointer.version, _Pass(cached_only=False))  # warm the fallback
        if self._experiment is not None and self._experiment.running:
            for version in dict.fromkeys(self._experiment.versions):
                self._row(contract.popular_pk(), version, _Pass(cached_only=False))

    def _refresh_experiment(self, now: float, p: _Pass) -> None:
        """Read the experiment item with the pointer; one that cannot be decoded is logged and
        answers nobody (users are served the pointer's version until it is fixed)."""
        item = self._get(contract.EXPERIMENT_KEY, "the experiment", now, p)
        if item is _UNREAD:
            return
        try:
            experiment = contract.decode_experiment(item) if item else None
        except (KeyError, ValueError) as err:
            log.error(
                "the experiment item of table %s cannot be read (%s): serving the pointer", self._table, err
            )
            experiment = None
        if experiment != self._experiment:
            log.info("experiment: %s (was %s)", experiment, self._experiment)
        self._experiment = experiment

    # -- rows ----------------------------------------------------------------------------------

    def _row(self, pk: str, version: str, p: _Pass) -> Entry | None:
        """The cached or freshly read entry of ``pk``; a stale one when DynamoDB fails; None if neither."""
        now = self._clock()
        key = self._cache_key(pk, version)
        with self._lock:
            entry = self._rows.get(key)
        if entry is not None and entry.version == version and now - entry.read_at < self._ttl:
            return entry
        if p.cached_only:
            raise _NeedsRead
        item = self._get(contract.row_key(pk, version), pk, now, p)
        if item is _UNREAD:
            p.saw("stale")
            return entry
        p.saw("miss")
        try:
            fresh = Entry(version, self._decoded(item, version) if item else None, now)
        except StoreUnavailableError:  # the row came, its version's category table could not
            p.unavailable = True
            p.saw("stale")
            return entry
        with self._lock:
            self._rows[key] = fresh
        return fresh

    def _decoded(self, item: dict, version: str) -> contract.RankedItems:
        """The row's lists; a row with category codes is named by its version's table (rules)."""
        try:
            table = self.categories.of(version) if contract.needs_category_table(item) else None
        except MissingCategoryTableError as err:
            raise NotPublishedError(str(err)) from err
        return contract.decode_row(item, table)

    def _cache_key(self, pk: str, version: str) -> str | tuple[str, str]:
        """``pk`` for the pointer's version (an older version's entry there is the last good answer),
        (version, pk) for an experiment arm's other version."""
        pointer = self._pointer
        return pk if pointer is None or pointer.version == version else (version, pk)

    def _get(self, key: dict, what: str, now: float, p: _Pass):
        """The item at ``key`` (None if absent), or _UNREAD when DynamoDB failed or is in back-off."""
        if now < self._down_until:
            p.unavailable = True
            return _UNREAD
        try:
            return self._client.get_item(TableName=self._table, Key=key).get("Item")
        except self._errors as err:
            self.stats.dynamodb_errors += 1
            self._down_until = self._clock() + self._backoff
            p.unavailable = True
            log.warning(
                "reading %s from DynamoDB table %s failed (%s: %s); answering from the cache for %.1fs",
                what,
                self._table,
                type(err).__name__,
                err,
                self._backoff,
            )
            return _UNREAD


_UNREAD = object()
