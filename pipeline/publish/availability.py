"""Intraday availability: the items the API must not recommend now, written without a new publish.

``recs availability set`` reads the current set, marks items unavailable (``--unavailable``,
``--from FILE``) or available again (``--available``), and writes the set back as the contract's
``meta#availability`` items (``contract._rules``); every warm API applies it within its
``pointer_refresh_seconds``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import contract
from pipeline.errors import PipelineError
from pipeline.publish.dynamo import check_table


def read_availability(client, table: str) -> contract.Availability:
    """The availability the API reads now (nothing unavailable when it was never set)."""

    def get_item(key: dict) -> dict | None:
        return client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")

    found = contract.read_availability(get_item)
    if found is None:
        raise PipelineError(f"table {table}: the availability is being written by another call; try again")
    return found


def checked_ids(ids: Iterable[str], where: str) -> set[str]:
    """``ids`` once each; ``PipelineError`` naming the first that breaks the id rule."""
    found = set()
    for item_id in ids:
        problem = contract.id_problem(item_id)
        if problem:
            raise PipelineError(
                f"{where}: item id {item_id[:80]!r} {problem} (the id rule: {contract.ID_RULE})"
            )
        found.add(item_id)
    return found


def ids_from_file(path: Path) -> list[str]:
    """One item id per line (blank lines skipped)."""
    with Path(path).open(encoding="utf-8") as f:
        return [line.rstrip("\r\n") for line in f if line.strip()]


def set_availability(
    client,
    table: str,
    unavailable: Iterable[str] = (),
    available: Iterable[str] = (),
    replace: bool = False,
    now: float | None = None,
) -> contract.Availability:
    """Mark ``unavailable`` items unavailable and ``available`` ones available again (``replace``: start
    from nothing unavailable), write the set and return it."""
    down = checked_ids(unavailable, "--unavailable")
    up = checked_ids(available, "--available")
    both = down & up
    if both:
        raise PipelineError(f"item {sorted(both)[0]!r} is named both unavailable and available")
    check_table(client, table)
    before = frozenset() if replace else read_availability(client, table).unavailable
    after = contract.Availability(
        frozenset((before | down) - up), uuid.uuid4().hex[:12], int(now if now is not None else time.time())
    )
    for item in reversed(contract.encode_availability(after)):  # part 0, which names the rest, last
        client.put_item(TableName=table, Item=item)
    return after
