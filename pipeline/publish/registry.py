"""The version registry and the pointer: the items that say which versions exist and which is served.

Every version has a registry entry (``contract.VersionEntry``) whose status goes ``writing``
→ ``published`` → ``retired``; the pointer (``contract.Pointer``) names the served version.
Plain functions over a DynamoDB client and a table name.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from botocore.exceptions import ClientError

import contract
from pipeline.errors import PublishError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionStart:
    """Where a publish of a version starts: its expiry and the rows already written."""

    expires_at: int
    rows_done: int
    status: str


def registry_entry(client, table: str, version: str) -> contract.VersionEntry | None:
    key = contract.row_key(contract.VERSION_PK, version)
    item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    return contract.decode_version(item) if item else None


def begin_version(
    client,
    table: str,
    version: str,
    *,
    rows: int,
    k: int,
    metrics: dict,
    ttl_days: int,
    digest: str,
    check_keys: list[str],
) -> VersionStart:
    """Register ``version`` as being written, or find where a crashed run of it stopped."""
    entry = registry_entry(client, table, version)
    if entry and entry.status != "writing":
        return VersionStart(entry.expires_at, entry.rows, entry.status)
    if entry and entry.fingerprint == digest and entry.rows == rows:
        log.info("resuming %s after %d of %d rows", version, entry.rows_done, rows)
        return VersionStart(entry.expires_at, entry.rows_done, "writing")
    if entry:
        log.warning("version %s was started with other rows: rewriting all of them", version)
    now = time.time()
    start = VersionStart(int(now) + ttl_days * 86400, 0, "writing")
    fresh = contract.VersionEntry(
        version=version,
        status="writing",
        rows=rows,
        rows_done=0,
        k=k,
        expires_at=start.expires_at,
        created_at=now,
        metrics=metrics,
        fingerprint=digest,
        check_keys=tuple(check_keys),
    )
    client.put_item(TableName=table, Item=contract.encode_version(fresh))
    return start


def save_watermark(client, table: str, version: str, rows_done: int) -> None:
    """Record that the first ``rows_done`` rows of the version's row stream are written."""
    client.update_item(
        TableName=table,
        Key=contract.row_key(contract.VERSION_PK, version),
        UpdateExpression="SET rows_done = :n",
        ExpressionAttributeValues={":n": {"N": str(rows_done)}},
    )


def set_status(client, table: str, version: str, status: contract.VersionStatus, **numbers: float) -> None:
    names = {"#s": "status", **{f"#{n}": n for n in numbers}}
    values = {":s": {"S": status}, **{f":{n}": {"N": str(v)} for n, v in numbers.items()}}
    client.update_item(
        TableName=table,
        Key=contract.row_key(contract.VERSION_PK, version),
        UpdateExpression="SET " + ", ".join(["#s = :s", *(f"#{n} = :{n}" for n in numbers)]),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def set_expiry(client, table: str, version: str, expires_at: int) -> None:
    """Record a version's new expiry (``expiry.keep_alive`` moved its rows' TTL)."""
    client.update_item(
        TableName=table,
        Key=contract.row_key(contract.VERSION_PK, version),
        UpdateExpression="SET #e = :e",
        ExpressionAttributeNames={"#e": contract.TTL_ATTRIBUTE},
        ExpressionAttributeValues={":e": {"N": str(expires_at)}},
    )


def list_registry(client, table: str) -> list[contract.VersionEntry]:
    """Every version's registry entry, newest first."""
    items, start = [], None
    while True:
        page = client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": contract.VERSION_PK}},
            ConsistentRead=True,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        items.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            entries = [contract.decode_version(item) for item in items]
            return sorted(entries, key=lambda e: e.created_at, reverse=True)


def current_pointer(client, table: str) -> contract.Pointer | None:
    """The pointer as it is now (a consistent read), or None before the first publish."""
    item = client.get_item(TableName=table, Key=contract.POINTER_KEY, ConsistentRead=True).get("Item")
    return contract.decode_pointer(item) if item else None


def flip_pointer(client, table: str, version: str, k: int) -> tuple[str | None, bool]:
    """Point readers at ``version``: returns (the version served before, whether the pointer changed).

    The put is conditional on the pointer still naming the version just read, so two
    concurrent flips cannot silently overwrite each other.
    """
    current = current_pointer(client, table)
    if current and current.version == version:
        return current.previous, False
    pointer = contract.Pointer(version=version, k=k, previous=current.version if current else None)
    condition = (
        {
            "ConditionExpression": "#v = :seen",
            "ExpressionAttributeNames": {"#v": "version"},
            "ExpressionAttributeValues": {":seen": {"S": current.version}},
        }
        if current
        else {"ConditionExpression": "attribute_not_exists(pk)"}
    )
    try:
        client.put_item(TableName=table, Item=contract.encode_pointer(pointer, int(time.time())), **condition)
    except ClientError as err:
        if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        raise PublishError(
            f"the pointer of table {table} changed while flipping it to {version}; nothing was flipped"
        ) from err
    return pointer.previous, True


def retire_old_versions(client, table: str, keep: int) -> list[str]:
    """Mark published versions beyond the newest ``keep`` as retired; the served version and the
    pointer's ``previous`` (what ``recs rollback`` goes back to) are kept first, and the versions of a
    running experiment are never retired, whatever ``keep`` says.

    Newest is by publish time, so after a rollback the version rolled back to is still the oldest:
    without the pointer's say, the next publish would retire it and keep the one it replaced.
    """
    current = current_pointer(client, table)
    published = [e for e in list_registry(client, table) if e.status == "published"]
    published.sort(key=lambda e: e.published_at or e.created_at, reverse=True)
    protected = [current.version, current.previous][: min(keep, 2)] if current else []
    protected = [v for v in protected if v]
    protected += [v for v in running_versions(client, table) if v not in protected]  # never retired
    kept = protected + [e.version for e in published if e.version not in protected]
    retired = [v for v in kept[max(keep, len(protected)) :] if v in {e.version for e in published}]
    for version in retired:
        set_status(client, table, version, "retired")
    return retired


def current_experiment(client, table: str) -> contract.Experiment | None:
    """The experiment item as it is now (running or the last one stopped), or None."""
    item = client.get_item(TableName=table, Key=contract.EXPERIMENT_KEY, ConsistentRead=True).get("Item")
    return contract.decode_experiment(item) if item else None


def running_versions(client, table: str) -> tuple[str, ...]:
    """The versions a running experiment serves (none when no experiment runs)."""
    experiment = current_experiment(client, table)
    return tuple(dict.fromkeys(experiment.versions)) if experiment and experiment.running else ()
