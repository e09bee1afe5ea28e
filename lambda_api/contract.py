"""The DynamoDB item contract: the one joint between the batch job and the API.

The pipeline writes these items and the API reads them; this module is the only
place either side learns the layout. It is deliberately dependency-free (no boto3,
no pipeline imports) so that the Lambda package carries it as is.

Table: partition key ``pk`` (S), sort key ``sk`` (S). Every recommendation row is
written under its model version (``sk`` = version), so several versions coexist
and a reader first resolves which one is current:

    pk                      sk          attributes
    ----------------------  ----------  -------------------------------------------
    meta#pointer            current     version, previous, k, flipped_at
    meta#version            <version>   status (writing|published|retired), rows,
                                        rows_done, k, metrics (S, JSON), fingerprint,
                                        check_keys (S, JSON), created_at,
                                        published_at, expires_at
    user#<user_id>          <version>   items (S), scores (S), expires_at, schema
    item#<item_id>          <version>   items (S), scores (S), expires_at, schema
                                        (similar items)
    popular#<segment>       <version>   items (S), scores (S), expires_at, schema
                                        (segment "global", or e.g. "France")

``items`` is a JSON array of item ids in rank order and ``scores`` a JSON array
of the matching scores rounded to 4 significant digits: two string attributes
keep a 50-item row of realistic ids under 1 KB (one write unit; ``item_size``
measures it as DynamoDB bills it), and are cheaper to write and parse than a
list of maps of numbers. ``expires_at`` is the table's TTL attribute (epoch
seconds). ``schema`` on each row names the layout version (``SCHEMA_VERSION``)
so that old and new layouts can coexist in a switch.

Readers resolve ``meta#pointer`` first and then read rows under its version
only, so an answer never mixes versions. The pipeline flips the pointer only
after every row of a version is written and verified; ``meta#version`` is the
pipeline's registry of versions (the API does not read it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

SCHEMA_VERSION = 1
PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"
GLOBAL_SEGMENT = "global"

# the table's keys: both strings, pk the partition (HASH) key and sk the sort (RANGE) key
KEY_SCHEMA = {PARTITION_KEY: ("HASH", "S"), SORT_KEY: ("RANGE", "S")}


def table_keys() -> dict:
    """``KeySchema`` and ``AttributeDefinitions`` for ``create_table``, from ``KEY_SCHEMA``."""
    return {
        "KeySchema": [{"AttributeName": n, "KeyType": kind} for n, (kind, _) in KEY_SCHEMA.items()],
        "AttributeDefinitions": [
            {"AttributeName": n, "AttributeType": t} for n, (_, t) in KEY_SCHEMA.items()
        ],
    }


POINTER_KEY = {PARTITION_KEY: {"S": "meta#pointer"}, SORT_KEY: {"S": "current"}}


def user_pk(user_id: str) -> str:
    return f"user#{user_id}"


def item_pk(item_id: str) -> str:
    return f"item#{item_id}"


def popular_pk(segment: str = GLOBAL_SEGMENT) -> str:
    return f"popular#{segment}"


def version_pk() -> str:
    return "meta#version"


def row_key(pk: str, version: str) -> dict:
    """The low-level (``{"S": ...}``) key of a row under a model version."""
    return {PARTITION_KEY: {"S": pk}, SORT_KEY: {"S": version}}


@dataclass(frozen=True, slots=True)
class RankedItems:
    """One stored list: item ids in rank order and their scores."""

    item_ids: tuple[str, ...]
    scores: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Pointer:
    """Which model version is being served, and how many items each row holds."""

    version: str
    k: int
    previous: str | None = None


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


def ids_json(item_ids) -> str:
    """Item ids as a compact JSON array; ``"[" + ",".join(quoted ids) + "]"`` is the same string."""
    return json.dumps(list(item_ids), separators=(",", ":"))


def scores_json(scores) -> str:
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
    )


def encode_pointer(pointer: Pointer, flipped_at: int) -> dict:
    item = {
        **POINTER_KEY,
        "version": {"S": pointer.version},
        "k": {"N": str(pointer.k)},
        "flipped_at": {"N": str(flipped_at)},
    }
    if pointer.previous:
        item["previous"] = {"S": pointer.previous}
    return item


def decode_pointer(item: dict) -> Pointer:
    return Pointer(
        version=item["version"]["S"],
        k=int(item["k"]["N"]),
        previous=item.get("previous", {}).get("S"),
    )


MAX_K = 200  # the most items a row may hold; the pointer's ``k`` says what a version holds
WRITE_UNIT_BYTES = 1024  # an item up to this size costs one write unit


def item_size(item: dict) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values.

    Strings and binaries count their bytes, numbers about one byte per two
    significant digits plus one (the documented rule), booleans and nulls one.
    """
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "B":
        return len(data)
    if kind == "N":
        digits = data.lstrip("-").replace(".", "").split("e")[0].split("E")[0].strip("0")
        return (len(digits) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    raise ValueError(f"item_size cannot size attribute type {kind!r}")
