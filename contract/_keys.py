"""The table's keys: the key schema, the partition key of every item kind, the TTL attribute."""

from __future__ import annotations

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"
GLOBAL_SEGMENT = "global"
VERSION_PK = "meta#version"

# the table's keys: both strings, pk the partition (HASH) key and sk the sort (RANGE) key
KEY_SCHEMA = {PARTITION_KEY: ("HASH", "S"), SORT_KEY: ("RANGE", "S")}

POINTER_KEY = {PARTITION_KEY: {"S": "meta#pointer"}, SORT_KEY: {"S": "current"}}
# the nightly job's lease: one run at a time across machines (pipeline/ops/lock.py); the API never reads it
LOCK_KEY = {PARTITION_KEY: {"S": "meta#lock"}, SORT_KEY: {"S": "nightly"}}


def table_keys() -> dict:
    """``KeySchema`` and ``AttributeDefinitions`` for ``create_table``, from ``KEY_SCHEMA``."""
    return {
        "KeySchema": [{"AttributeName": n, "KeyType": kind} for n, (kind, _) in KEY_SCHEMA.items()],
        "AttributeDefinitions": [
            {"AttributeName": n, "AttributeType": t} for n, (_, t) in KEY_SCHEMA.items()
        ],
    }


def user_pk(user_id: str) -> str:
    return f"user#{user_id}"


def item_pk(item_id: str) -> str:
    return f"item#{item_id}"


def popular_pk(segment: str = GLOBAL_SEGMENT) -> str:
    return f"popular#{segment}"


def row_key(pk: str, version: str) -> dict:
    """The low-level (``{"S": ...}``) key of a row under a model version."""
    return {PARTITION_KEY: {"S": pk}, SORT_KEY: {"S": version}}


def fallback_segments(segment: str | None = None) -> tuple[str, ...]:
    """The popular lists that answer a user a version does not know, in the order to try them:
    the segment's (when one is named), then the global one."""
    if segment is None or segment == GLOBAL_SEGMENT:
        return (GLOBAL_SEGMENT,)
    return (segment, GLOBAL_SEGMENT)
