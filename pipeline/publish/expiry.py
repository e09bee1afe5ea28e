"""Expiry of the versions readers can be pointed at: the served one and its rollback target.

Every row carries ``expires_at`` (DynamoDB's TTL), set when its version is published. A version
that keeps being served (refused or empty nights) would otherwise be deleted under the API
after ``ttl_days``, so every nightly run calls ``keep_alive``: the served version and the
pointer's ``previous`` get their rows' and registry entry's expiry moved to ``ttl_days`` from
now once less than half of that is left (one UpdateItem per row, at most every
``ttl_days / 2`` days). A row's keys come from the version's artifact (its id maps) and its
registry entry (``check_keys`` holds every popular list); a version whose artifact is not
in ``artifacts_dir`` cannot be extended, and the run says so.

A rollback refuses a target with less than ``MIN_ROLLBACK_HOURS`` left (``versions.rollback``).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from botocore.exceptions import ClientError

import contract
from pipeline import storage
from pipeline.errors import PublishError
from pipeline.publish import registry
from pipeline.storage import Location

log = logging.getLogger(__name__)

MIN_ROLLBACK_HOURS = 24  # a rollback must leave readers at least this long before TTL deletes rows


@dataclass(frozen=True)
class Extended:
    version: str
    rows: int
    expires_at: int


def version_keys(artifacts_dir: Location | str, entry: contract.VersionEntry) -> list[str] | None:
    """Every partition key of a version's rows, or None when its artifact is not here."""
    try:
        ids = storage.read_bytes(storage.location(artifacts_dir) / entry.version / "ids.npz")
    except FileNotFoundError:
        return None
    with np.load(io.BytesIO(ids), allow_pickle=False) as found:
        users, items = found["user_ids"].tolist(), found["item_ids"].tolist()
    popular = [pk for pk in entry.check_keys if pk.startswith(contract.popular_pk(""))]
    return [*map(contract.user_pk, users), *map(contract.item_pk, items), *popular]


def extend_rows(
    client, table: str, version: str, pks: Iterable[str], expires_at: int, workers: int = 4
) -> int:
    """Set ``expires_at`` on each row of ``version`` (rows already gone are counted, not created)."""

    def one(pk: str) -> bool:
        try:
            client.update_item(
                TableName=table,
                Key=contract.row_key(pk, version),
                UpdateExpression="SET #e = :e",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#e": contract.TTL_ATTRIBUTE},
                ExpressionAttributeValues={":e": {"N": str(expires_at)}},
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    pks = list(pks)
    with ThreadPoolExecutor(workers) as pool:
        done = sum(pool.map(one, pks))
    if done < len(pks):
        raise PublishError(
            f"version {version} of table {table} has lost {len(pks) - done} of {len(pks)} rows already "
            f"(TTL): it cannot be kept; publish a new version"
        )
    return done


def keep_alive(
    client, table: str, artifacts_dir: Location, ttl_days: int, now: float | None = None, workers: int = 4
) -> list[Extended]:
    """Extend the served version and its rollback target once less than half of ``ttl_days`` is left."""
    now = time.time() if now is None else now
    try:
        pointer = registry.current_pointer(client, table)
    except ClientError as err:
        if err.response["Error"]["Code"] == "ResourceNotFoundException":  # the first run makes the table
            return []
        raise
    if pointer is None:
        return []
    extended = []
    arms = registry.running_versions(client, table)  # a running experiment's versions are served too
    for version in dict.fromkeys(v for v in (pointer.version, pointer.previous, *arms) if v):
        entry = registry.registry_entry(client, table, version)
        if entry is None or entry.status != "published" or entry.expires_at - now >= ttl_days * 86400 / 2:
            continue
        keys = version_keys(artifacts_dir, entry)
        if keys is None:
            expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(entry.expires_at))
            log.error(
                "version %s of table %s expires at %s and its artifact is not under %s: its rows cannot be "
                "extended; publish a new version before then",
                version, table, expires, artifacts_dir,
            )  # fmt: skip
            continue
        expires_at = int(now) + ttl_days * 86400
        rows = extend_rows(client, table, version, keys, expires_at, workers)
        registry.set_expiry(client, table, version, expires_at)
        log.info("extended %d rows of version %s to expire %d days from now", rows, version, ttl_days)
        extended.append(Extended(version, rows, expires_at))
    return extended
