"""The pipeline's bookkeeping items: the pointer to the served version and the version registry."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from contract._keys import POINTER_KEY, TTL_ATTRIBUTE, VERSION_PK, row_key

VersionStatus = Literal["writing", "published", "retired"]


@dataclass(frozen=True, slots=True)
class Pointer:
    """Which model version is being served, and how many items each row holds."""

    version: str
    k: int
    previous: str | None = None


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


@dataclass(frozen=True, slots=True)
class VersionEntry:
    """A version's registry entry (``meta#version`` / version).

    ``rows`` is the version's row count and ``rows_done`` the resume watermark (every row of
    the version's row stream before it is written); ``fingerprint`` is a digest of the rows, so
    that a resumed publish can tell it writes the same ones; ``check_keys`` are the partition
    keys read back before a flip (and before a rollback to it).
    """

    version: str
    status: VersionStatus
    rows: int
    rows_done: int
    k: int
    expires_at: int
    created_at: float
    metrics: dict = field(default_factory=dict)
    fingerprint: str = ""
    check_keys: tuple[str, ...] = ()
    published_at: float | None = None


def encode_version(entry: VersionEntry) -> dict:
    item = {
        **row_key(VERSION_PK, entry.version),
        "status": {"S": entry.status},
        "rows": {"N": str(entry.rows)},
        "rows_done": {"N": str(entry.rows_done)},
        "k": {"N": str(entry.k)},
        "metrics": {"S": json.dumps(entry.metrics, default=float)},
        "fingerprint": {"S": entry.fingerprint},
        "check_keys": {"S": json.dumps(list(entry.check_keys), separators=(",", ":"))},
        "created_at": {"N": f"{entry.created_at:.6f}"},
        TTL_ATTRIBUTE: {"N": str(entry.expires_at)},
    }
    if entry.published_at is not None:
        item["published_at"] = {"N": f"{entry.published_at:.6f}"}
    return item


def decode_version(item: dict) -> VersionEntry:
    return VersionEntry(
        version=item["sk"]["S"],
        status=item["status"]["S"],
        rows=int(item["rows"]["N"]),
        rows_done=int(item["rows_done"]["N"]),
        k=int(item["k"]["N"]),
        expires_at=int(item[TTL_ATTRIBUTE]["N"]),
        created_at=float(item["created_at"]["N"]),
        metrics=json.loads(item["metrics"]["S"]) if "metrics" in item else {},
        fingerprint=item.get("fingerprint", {}).get("S", ""),
        check_keys=tuple(json.loads(item["check_keys"]["S"])) if "check_keys" in item else (),
        published_at=float(item["published_at"]["N"]) if "published_at" in item else None,
    )
