"""Business rules at serve time: intraday availability and the category filter, on every answer.

The items marked unavailable (``recs availability set``, ``contract.Availability``) are re-read at
most every ``pointer_refresh_seconds``, like the pointer, and kept in memory: a warm container stops
recommending a sold-out item within that interval, and serves it again once it is back, without a
new publish. Every answer (a user's list, similar items, a popular fallback, the backfill) leaves
them out and fills ``k`` from the row's spare candidates; ``?category=`` keeps the items of one
category (or a path below it) by the categories stored on the row (``contract.decode_row``), so
neither rule reads anything per item. A row of layout 2 names each item's category by a code
into its version's category table (``contract.CategoryTable``), read once per version and kept
(``CategoryTables``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cachetools import LRUCache

import contract

log = logging.getLogger(__name__)

EMPTY = contract.Availability(frozenset())


@dataclass(frozen=True, slots=True)
class Filters:
    """What one answer leaves out or keeps: the request's own skips (``exclude``, the item itself),
    the unavailable items, and the one category to show (None: all)."""

    skip: frozenset[str] | set[str]
    unavailable: frozenset[str] = frozenset()
    category: str | None = None

    def kept(self, ranked: contract.RankedItems) -> Iterator[tuple[str, float, bool]]:
        """The row's items, in rank order, that pass (not skipped, of the category when one is asked),
        each with whether it is a new item offered to explore."""
        skip, unavailable, new = self.skip, self.unavailable, ranked.new
        rows = zip(
            ranked.item_ids, ranked.scores, ranked.categories or (None,) * len(ranked.item_ids), strict=True
        )
        wanted = self.category
        return (
            (i, s, n in new)
            for n, (i, s, c) in enumerate(rows)
            if i not in skip and i not in unavailable and (wanted is None or contract.in_category(c, wanted))
        )


class AvailabilityCache:
    """The unavailable items, re-read from the table at most every ``refresh_seconds``.

    When the table cannot be read, or a write is half-way (parts of two generations), the last
    set read stays in use: an answer never waits on, or fails for, availability.
    """

    def __init__(
        self,
        read_item: Callable[[dict, str], dict | None],
        table: str,
        refresh_seconds: float,
        clock: Callable[[], float],
        errors: tuple[type[Exception], ...],
    ):
        self._read_item, self._table = read_item, table  # the store's read: its back-off and counters
        self._refresh, self._clock, self._errors = refresh_seconds, clock, errors
        self._current = EMPTY
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def due(self) -> bool:
        """Whether the next answer must read the table first."""
        return self._clock() - self._read_at >= self._refresh

    def unavailable(self) -> frozenset[str]:
        """The unavailable item ids, re-read when due (call on a reader thread when ``due()``)."""
        if self.due():
            with self._lock:
                if self.due():
                    self._reload()
        return self._current.unavailable

    def cached(self) -> frozenset[str]:
        return self._current.unavailable

    def _reload(self) -> None:
        now = self._clock()
        try:
            found = self._read()
        except self._errors as err:
            log.warning(
                "reading availability from table %s failed (%s); keeping the last set", self._table, err
            )
            self._read_at = now  # try again after the refresh interval, not on every request
            return
        if found is None:
            log.info("availability of table %s is being written; keeping the last set", self._table)
        elif found != self._current:
            log.info(
                "availability: %d items unavailable (was %d)",
                len(found.unavailable),
                len(self._current.unavailable),
            )
            self._current = found
        self._read_at = now

    def _read(self) -> contract.Availability | None:
        return contract.read_availability(lambda key: self._read_item(key, "the availability"))


class MissingCategoryTableError(LookupError):
    """A row names category codes but its version has no category table (a broken publish)."""


class CategoryTables:
    """Each version's category table, read on the first row that needs it and kept: a version's
    table never changes, and only a few versions (the pointer's, an experiment's arms, the one
    before a flip) are read at a time."""

    def __init__(self, read_item: Callable[[dict, str], dict | None], table: str, keep: int = 8):
        self._read_item, self._table = read_item, table  # the store's read: its back-off and counters
        self._tables: LRUCache = LRUCache(maxsize=keep)
        self._lock = threading.Lock()

    def of(self, version: str) -> contract.CategoryTable:
        """The table of ``version``; the read's error when DynamoDB fails (nothing is kept then)."""
        with self._lock:
            found = self._tables.get(version)
        if found is not None:
            return found
        item = self._read_item(contract.category_table_key(version), f"the category table of {version}")
        if item is None:
            raise MissingCategoryTableError(
                f"model version {version} has rows with category codes but no {contract.CATEGORY_TABLE_PK} "
                f"item in table {self._table}: publish the version again"
            )
        found = contract.decode_category_table(item)
        with self._lock:
            self._tables[version] = found
        return found
