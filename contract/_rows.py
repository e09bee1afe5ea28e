"""Recommendation rows (user, similar-item and popular lists): ranked item ids and their scores.

Layout 2 (``SCHEMA_VERSION``, written since rows had to fit one write unit with categories):

- ``items`` (S): the ids in rank order, joined by commas (the id rule forbids a comma in an id);
- ``scores`` (S): the matching scores to 4 significant digits (``%.4g``), joined by commas, with
  the leading zero of a number below 1 left out (``.9123``, ``-.05``): the same decimal value,
  so a reader gets the very float it got from layout 1;
- ``cats`` (S, when the version has categories): each item's code into the version's category
  table (``_categories``), concatenated.

Layout 1 (``schema`` 1, or no ``schema``) stored ``items`` and ``scores`` as JSON arrays and
``cats`` as JSON ``[[category, ...], [index, ...]]``; ``decode_row`` still reads it, so a version
written before layout 2 is served (and rolled back to) as before. A reader refuses a layout it
does not know: deploy the API before a pipeline that writes a newer one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from contract._categories import CategoryTable
from contract._keys import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from contract._rules import (
    ABOUT_ATTRIBUTE,
    CATEGORIES_ATTRIBUTE,
    NEW_ATTRIBUTE,
    decode_about,
    decode_new,
    encode_about,
    encode_new,
)

SCHEMA_VERSION = 2
MAX_K = 200  # the most items a row may hold; the pointer's ``k`` says what a version holds


@dataclass(frozen=True, slots=True)
class RankedItems:
    """One stored list: item ids in rank order and their scores."""

    item_ids: tuple[str, ...]
    scores: tuple[float, ...]
    categories: tuple[str | None, ...] = ()  # each item's category, when the row stores them (_rules)
    new: tuple[int, ...] = ()  # positions of the items offered to explore (_rules)
    about: tuple[str | None, str | None] | None = None  # an item row's (name, category) (_rules)


def encode_row(
    pk: str, version: str, ranked: RankedItems, expires_at: int, categories: CategoryTable | None = None
) -> dict:
    """A recommendation row as a low-level DynamoDB item; ``categories``: the version's table, needed
    when ``ranked`` has categories."""
    row = encode_text_row(pk, version, ids_text(ranked.item_ids), scores_text(ranked.scores), expires_at)
    if ranked.categories:
        if categories is None:
            raise ValueError(f"row {pk}: items with categories need the version's category table")
        row[CATEGORIES_ATTRIBUTE] = {"S": categories.codes(ranked.categories)}
    if ranked.new:
        row[NEW_ATTRIBUTE] = {"S": encode_new(ranked.new)}
    if ranked.about is not None:
        row[ABOUT_ATTRIBUTE] = {"S": encode_about(*ranked.about)}
    return row


def encode_text_row(pk: str, version: str, items_text: str, scores_text: str, expires_at: int) -> dict:
    """A row from its already encoded ``items`` and ``scores`` (see ``ids_text``, ``scores_text``)."""
    return {
        PARTITION_KEY: {"S": pk},
        SORT_KEY: {"S": version},
        "items": {"S": items_text},
        "scores": {"S": scores_text},
        TTL_ATTRIBUTE: {"N": str(expires_at)},
        "schema": {"N": str(SCHEMA_VERSION)},
    }


def ids_text(item_ids: Sequence[str]) -> str:
    """Item ids joined by commas; refuses an id that is empty or holds a comma (the id rule's)."""
    text = ",".join(item_ids)
    if text.count(",") != max(len(item_ids) - 1, 0) or "" in item_ids:
        bad = [i for i in item_ids if "," in i or not i]
        raise ValueError(f"item ids {bad[:3]!r} cannot be stored: an id is not empty and holds no comma")
    return text


def scores_text(scores: Sequence[float]) -> str:
    """Scores to 4 significant digits, joined by commas, a leading ``0`` before the point left out."""
    if not len(scores):
        return ""
    text = ("%.4g," * len(scores) % tuple(scores))[:-1]  # one C-level format call for the whole row
    if "n" in text:  # "nan", "inf": a finite number has no n
        raise ValueError(f"scores must be finite numbers to be stored, got [{text}]")
    # "0." starts a number only after a comma or a minus sign, or at the start ("10.5" keeps its 0)
    text = text.replace(",0.", ",.").replace("-0.", "-.")
    return text[1:] if text.startswith("0.") else text


def needs_category_table(item: dict) -> bool:
    """Whether decoding ``item`` needs its version's category table (a layout-2 row with categories)."""
    return CATEGORIES_ATTRIBUTE in item and _schema(item) >= 2


def decode_row(item: dict, categories: CategoryTable | None = None) -> RankedItems:
    """The ranked items of a low-level DynamoDB item written by ``encode_row`` (of either layout).

    ``categories``: the version's table, to name the items' categories of a layout-2 row
    (``needs_category_table``); without it they are left out (``()``), for readers that only
    need the ids and scores (``recs show-user``, the export).
    """
    schema = _schema(item)
    if schema == 1:
        return _decode_layout_1(item)
    if schema != SCHEMA_VERSION:
        raise ValueError(
            f"row {item.get(PARTITION_KEY, {}).get('S')!r} has layout {schema}; this reader knows 1 to "
            f"{SCHEMA_VERSION}: deploy the API before the pipeline that writes it"
        )
    items, scores = item["items"]["S"], item["scores"]["S"]
    item_ids = tuple(items.split(",")) if items else ()
    ranked = tuple(map(float, scores.split(","))) if scores else ()
    if len(ranked) != len(item_ids):
        raise ValueError(f"a row holds {len(item_ids)} items but {len(ranked)} scores")
    return RankedItems(item_ids, ranked, _categories(item, categories, len(item_ids)), decode_new(item),
                       decode_about(item))  # fmt: skip


def _schema(item: dict) -> int:
    return int(item["schema"]["N"]) if "schema" in item else 1


def _categories(item: dict, table: CategoryTable | None, n_items: int) -> tuple[str | None, ...]:
    value = item.get(CATEGORIES_ATTRIBUTE)
    if value is None or table is None:
        return ()
    return table.decode(value["S"], n_items)


def _decode_layout_1(item: dict) -> RankedItems:
    """A row of layout 1: JSON arrays, and ``cats`` as JSON ``[[category, ...], [index, ...]]``."""
    cats = item.get(CATEGORIES_ATTRIBUTE)
    categories: tuple[str | None, ...] = ()
    if cats is not None:
        names, positions = json.loads(cats["S"])
        categories = tuple(names[p] if p >= 0 else None for p in positions)
    return RankedItems(
        item_ids=tuple(json.loads(item["items"]["S"])),
        scores=tuple(json.loads(item["scores"]["S"], parse_int=float)),
        categories=categories,
        new=decode_new(item),
        about=decode_about(item),
    )
