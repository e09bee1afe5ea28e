"""Recommendation rows (user, similar-item and popular lists): ranked item ids and their scores."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from contract._keys import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from contract._rules import decode_about, decode_categories, decode_new

SCHEMA_VERSION = 1
MAX_K = 200  # the most items a row may hold; the pointer's ``k`` says what a version holds


@dataclass(frozen=True, slots=True)
class RankedItems:
    """One stored list: item ids in rank order and their scores."""

    item_ids: tuple[str, ...]
    scores: tuple[float, ...]
    categories: tuple[str | None, ...] = ()  # each item's category, when the row stores them (_rules)
    new: tuple[int, ...] = ()  # positions of the items offered to explore (_rules)
    about: tuple[str | None, str | None] | None = None  # an item row's (name, category) (_rules)


def encode_row(pk: str, version: str, ranked: RankedItems, expires_at: int) -> dict:
    """A recommendation row as a low-level DynamoDB item."""
    return encode_json_row(pk, version, ids_json(ranked.item_ids), scores_json(ranked.scores), expires_at)


def encode_json_row(pk: str, version: str, items_json: str, scores_json: str, expires_at: int) -> dict:
    """A row from its already encoded ``items`` and ``scores`` (see ``ids_json``, ``scores_json``)."""
    return {
        PARTITION_KEY: {"S": pk},
        SORT_KEY: {"S": version},
        "items": {"S": items_json},
        "scores": {"S": scores_json},
        TTL_ATTRIBUTE: {"N": str(expires_at)},
        "schema": {"N": str(SCHEMA_VERSION)},
    }


def ids_json(item_ids: Iterable[str]) -> str:
    """Item ids as a compact JSON array; ``"[" + ",".join(quoted ids) + "]"`` is the same string."""
    return json.dumps(list(item_ids), separators=(",", ":"))


def scores_json(scores: Sequence[float]) -> str:
    """Scores to 4 significant digits as a compact JSON array (``%.4g`` of a finite float is JSON)."""
    text = ("%.4g," * len(scores) % tuple(scores))[:-1]  # one C-level format call for the whole row
    if "n" in text:  # "nan", "inf": a finite number has no n
        raise ValueError(f"scores must be finite numbers to be stored, got [{text}]")
    return "[" + text + "]"


def decode_row(item: dict) -> RankedItems:
    """The ranked items of a low-level DynamoDB item written by ``encode_row``."""
    return RankedItems(
        item_ids=tuple(json.loads(item["items"]["S"])),
        scores=tuple(json.loads(item["scores"]["S"], parse_int=float)),
        categories=decode_categories(item),
        new=decode_new(item),
        about=decode_about(item),
    )
