"""Business rules in the table: each stored item's category, and intraday availability.

Categories ride on the recommendation rows themselves, so that ``?category=`` costs no read:
a row written from a catalog with categories carries ``cats`` (S), each item's code into the
version's category table (``_categories``; layout 1 rows carried the paths themselves, ``_rows``).

A row whose list offers new items to explore (``pipeline.precompute.explore``) carries ``new``
(S), the JSON list of their positions in ``items``.

An item's own row (``item#<id>``, its similar items) carries ``about`` (S), the JSON pair
``[name, category]`` from the catalog, so that an answer can name its items from rows the API
caches anyway (``?include=metadata``).

Availability during the day lives in a few items of its own, written by ``recs availability set``
and re-read by the API like the pointer:

    pk                  sk      attributes
    ------------------  ------  ----------------------------------------------------------
    meta#availability   0       unavailable (S, JSON list of item ids), parts (N), generation (S),
                                updated_at (N)
    meta#availability   1..n-1  unavailable, generation  (only when the ids exceed one item)

Each part stays under ``MAX_PART_BYTES`` (DynamoDB's item limit is 400 KB). A writer puts the
parts after the first, then part 0 (which names how many there are and their generation), so a
reader that finds a part of another generation is reading during a write and keeps what it had.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from contract._keys import PARTITION_KEY, SORT_KEY

AVAILABILITY_PK = "meta#availability"
MAX_PART_BYTES = 350_000
CATEGORIES_ATTRIBUTE = "cats"
ABOUT_ATTRIBUTE = "about"  # on an item's row: JSON [name, category] from the catalog
NEW_ATTRIBUTE = "new"  # positions in ``items`` of new items offered to explore (JSON list of ints)


def in_category(category: str | None, wanted: str) -> bool:
    """Whether an item of ``category`` belongs to ``wanted``: the same path, or one below it
    (``home/kitchen`` is in ``home``)."""
    return category is not None and (category == wanted or category.startswith(wanted + "/"))


@dataclass(frozen=True, slots=True)
class Availability:
    """The items that must not be recommended now, and which write said so."""

    unavailable: frozenset[str]
    generation: str = ""
    updated_at: int = 0


def availability_key(part: int) -> dict:
    return {PARTITION_KEY: {"S": AVAILABILITY_PK}, SORT_KEY: {"S": str(part)}}


def encode_availability(availability: Availability) -> list[dict]:
    """The items that hold ``availability``, part 0 first (write them in reverse order)."""
    parts = _parts(sorted(availability.unavailable))
    items = []
    for n, ids in enumerate(parts):
        item = {
            **availability_key(n),
            "unavailable": {"S": json.dumps(ids, separators=(",", ":"), ensure_ascii=False)},
            "generation": {"S": availability.generation},
        }
        if n == 0:
            item["parts"] = {"N": str(len(parts))}
            item["updated_at"] = {"N": str(availability.updated_at)}
        items.append(item)
    return items


def _parts(ids: Sequence[str]) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    size = 0
    for item_id in ids:
        cost = len(json.dumps(item_id, ensure_ascii=False).encode()) + 1
        if size + cost > MAX_PART_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(item_id)
        size += cost
    return parts


def availability_parts(first: dict) -> int:
    """How many items hold the availability, from part 0."""
    return int(first["parts"]["N"])


def decode_availability(items: Iterable[dict]) -> Availability | None:
    """The availability of its parts (part 0 first); None when they are of different writes."""
    items = list(items)
    generation = items[0]["generation"]["S"]
    if any(i["generation"]["S"] != generation for i in items):
        return None
    ids = frozenset(i for item in items for i in json.loads(item["unavailable"]["S"]))
    return Availability(ids, generation, int(items[0]["updated_at"]["N"]))


def read_availability(get_item: Callable[[dict], dict | None]) -> Availability | None:
    """The availability through ``get_item(key) -> item or None``; None when a write is half-way."""
    first = get_item(availability_key(0))
    if first is None:
        return Availability(frozenset())
    parts = [first] + [get_item(availability_key(n)) or {} for n in range(1, availability_parts(first))]
    return decode_availability(parts) if all(parts) else None


def encode_new(positions: Sequence[int]) -> str:
    """The ``new`` attribute of a row: the positions of its exploration items."""
    return json.dumps(list(positions), separators=(",", ":"))


def decode_new(item: dict) -> tuple[int, ...]:
    """The positions of a row's exploration items (``()`` when it has none)."""
    value = item.get(NEW_ATTRIBUTE)
    return tuple(json.loads(value["S"])) if value is not None else ()


def encode_about(name: str | None, category: str | None) -> str:
    return json.dumps([name, category], separators=(",", ":"), ensure_ascii=False)


def decode_about(item: dict) -> tuple[str | None, str | None] | None:
    """An item row's (name, category); None when the row stores none."""
    value = item.get(ABOUT_ATTRIBUTE)
    if value is None:
        return None
    name, category = json.loads(value["S"])
    return name, category
