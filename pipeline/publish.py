"""Publish: write a model version's rows to DynamoDB, verify them, then flip the current-version pointer.

The item layout is ``lambda_api.contract``'s. The steps, each a short function:

1. ``check_table`` (``pipeline.dynamo``): the table exists (or is created) with the contract's key schema.
2. ``begin_version``: the version's registry entry (``meta#version``) says
   ``writing``; a re-run of the same version resumes from its watermark
   (``rows_done``, the rows known written in stream order) and reuses its expiry.
3. ``write_rows`` (``pipeline.dynamo``): parallel BatchWriteItem; unprocessed items and throttling are
   retried with exponential backoff and full jitter, a batch that still fails
   after ``max_attempts`` raises ``PublishError``.
4. ``verify_version``: the writes' acknowledged count must equal the expected
   row count (DynamoDB acknowledges an item only once it is durably written; the
   rest come back as UnprocessedItems), and a random sample of keys plus every
   popular list is read back with consistent reads. A full count would need a
   scan of every kept version (minutes and ~N x versions / 8 read units at 1M
   users); a per-version counter item would double-count idempotent rewrites
   and be a hot key.
5. ``flip_pointer``: one conditional PutItem of ``meta#pointer`` (only if nobody
   flipped it since we read it), then older versions beyond ``keep_versions`` are
   marked ``retired``; their rows go by TTL.

Any failure before step 5 leaves the pointer untouched: readers keep the old version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np
from botocore.exceptions import ClientError
from tqdm import tqdm

from lambda_api import contract
from pipeline.dynamo import check_table, write_rows
from pipeline.errors import PublishError
from pipeline.recommend import Precomputed, TopK

log = logging.getLogger(__name__)

READ_BATCH_SIZE = 100  # BatchGetItem's maximum
VERIFY_SAMPLE = 200  # random row keys read back before a flip (plus every popular list)
CHECKPOINT_ROWS = 10_000  # how often the resume watermark is saved
PROGRESS_MIN_ROWS = 20_000  # publishes at least this long show a progress bar (on a terminal)


@dataclass(frozen=True)
class PublishReport:
    version: str
    rows_written: int  # rows written by this call (a resumed run skips the rows already in)
    previous_version: str | None
    seconds: float
    rows_resumed: int = 0  # rows a crashed earlier run had already written
    flipped: bool = True  # False: the version was already published, nothing was done
    retired: tuple[str, ...] = ()


@dataclass(frozen=True)
class VersionStart:
    """Where a publish of a version starts: its expiry and the rows already written."""

    expires_at: int
    rows_done: int
    status: str


# --- 1. the table: pipeline.dynamo.check_table --------------------------------------------------


# --- 2. the version's registry entry -------------------------------------------------------------


def fingerprint(pre: Precomputed) -> str:
    """A digest of everything a version's rows are made of: a resumed run must write the same rows."""
    digest = hashlib.sha256()
    for array in (pre.user_ids, pre.item_ids):
        digest.update("\x1f".join(map(str, array.tolist())).encode())
    for top in (pre.users, pre.similar, *(pre.popular[s] for s in sorted(pre.popular))):
        digest.update(np.ascontiguousarray(top.ids).tobytes())
        digest.update(np.ascontiguousarray(top.scores).tobytes())
    digest.update(f"{sorted(pre.popular)}|{pre.k}".encode())
    return digest.hexdigest()[:16]


def registry_entry(client, table: str, version: str) -> dict | None:
    key = contract.row_key(contract.version_pk(), version)
    return client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


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
    if entry and entry["status"]["S"] != "writing":
        return VersionStart(
            int(entry[contract.TTL_ATTRIBUTE]["N"]), int(entry["rows"]["N"]), entry["status"]["S"]
        )
    if entry and entry.get("fingerprint", {}).get("S") == digest and int(entry["rows"]["N"]) == rows:
        start = VersionStart(int(entry[contract.TTL_ATTRIBUTE]["N"]), int(entry["rows_done"]["N"]), "writing")
        log.info("resuming %s after %d of %d rows", version, start.rows_done, rows)
        return start
    if entry:
        log.warning("version %s was started with other rows: rewriting all of them", version)
    now = int(time.time())
    start = VersionStart(now + ttl_days * 86400, 0, "writing")
    client.put_item(
        TableName=table,
        Item={
            **contract.row_key(contract.version_pk(), version),
            "status": {"S": "writing"},
            "rows": {"N": str(rows)},
            "rows_done": {"N": "0"},
            "k": {"N": str(k)},
            "metrics": {"S": json.dumps(metrics, default=float)},
            "fingerprint": {"S": digest},
            "check_keys": {"S": json.dumps(check_keys, separators=(",", ":"))},
            "created_at": {"N": f"{time.time():.6f}"},
            contract.TTL_ATTRIBUTE: {"N": str(start.expires_at)},
        },
    )
    return start


def save_watermark(client, table: str, version: str, rows_done: int) -> None:
    """Record that the first ``rows_done`` rows of the version's row stream are written."""
    client.update_item(
        TableName=table,
        Key=contract.row_key(contract.version_pk(), version),
        UpdateExpression="SET rows_done = :n",
        ExpressionAttributeValues={":n": {"N": str(rows_done)}},
    )


def set_status(client, table: str, version: str, status: str, **numbers: float) -> None:
    names = {"#s": "status", **{f"#{n}": n for n in numbers}}
    values = {":s": {"S": status}, **{f":{n}": {"N": str(v)} for n, v in numbers.items()}}
    client.update_item(
        TableName=table,
        Key=contract.row_key(contract.version_pk(), version),
        UpdateExpression="SET " + ", ".join(["#s = :s", *(f"#{n} = :{n}" for n in numbers)]),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


# --- 3. the rows ----------------------------------------------------------------------------------


def _lists(top: TopK, quoted_ids: np.ndarray) -> Iterator[tuple[str, str]]:
    """Each row's ``items`` and ``scores`` JSON, as ``contract.encode_row`` writes them.

    Item ids are JSON-quoted once per version rather than once per row; padding (-1) is dropped.
    """
    for ids, scores in zip(top.ids.tolist(), top.scores.tolist(), strict=True):
        keep = [i for i in ids if i >= 0]
        yield "[" + ",".join(quoted_ids[keep].tolist()) + "]", contract.scores_json(scores[: len(keep)])


def version_rows(version: str, pre: Precomputed, expires_at: int) -> Iterator[dict]:
    """Every DynamoDB item of a version, in a fixed order: users, then items, then popular segments."""
    quoted = np.array([json.dumps(i) for i in pre.item_ids.tolist()], dtype=object)
    keyed = [
        ((contract.user_pk(u) for u in pre.user_ids.tolist()), pre.users),
        ((contract.item_pk(i) for i in pre.item_ids.tolist()), pre.similar),
        *(([contract.popular_pk(s)], pre.popular[s]) for s in sorted(pre.popular)),
    ]
    for pks, top in keyed:
        for pk, (items_json, scores_json) in zip(pks, _lists(top, quoted), strict=True):
            yield contract.encode_json_row(pk, version, items_json, scores_json, expires_at)


def check_keys(pre: Precomputed, sample: int = VERIFY_SAMPLE, seed: int = 0) -> list[str]:
    """The partition keys read back before a flip: every popular list and a random sample of the rest."""
    rng = np.random.default_rng(seed)
    users = rng.choice(len(pre.user_ids), size=min(sample // 2, len(pre.user_ids)), replace=False)
    items = rng.choice(len(pre.item_ids), size=min(sample - len(users), len(pre.item_ids)), replace=False)
    return [
        *(contract.popular_pk(s) for s in sorted(pre.popular)),
        *(contract.user_pk(u) for u in pre.user_ids[np.sort(users)].tolist()),
        *(contract.item_pk(i) for i in pre.item_ids[np.sort(items)].tolist()),
    ]


# --- 4. verification ------------------------------------------------------------------------------


def missing_rows(client, table: str, version: str, pks: list[str]) -> list[str]:
    """The partition keys that have no row under ``version`` (consistent reads, 100 at a time)."""
    found: set[str] = set()
    for start in range(0, len(pks), READ_BATCH_SIZE):
        keys = [contract.row_key(pk, version) for pk in dict.fromkeys(pks[start : start + READ_BATCH_SIZE])]
        request = {table: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "pk"}}
        for attempt in range(8):
            response = client.batch_get_item(RequestItems=request)
            found.update(item["pk"]["S"] for item in response["Responses"].get(table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(random.uniform(0, 0.05 * 2**attempt))
        else:
            raise PublishError(
                f"reading back rows of version {version} from table {table} kept being throttled"
            )
    return [pk for pk in pks if pk not in found]


def verify_version(client, table: str, version: str, written: int, expected: int, pks: list[str]) -> None:
    """Every row acknowledged, and the sampled rows readable under the version; else ``PublishError``."""
    if written != expected:
        raise PublishError(
            f"version {version}: DynamoDB table {table} acknowledged {written} rows but the version has "
            f"{expected}; the pointer was not flipped"
        )
    missing = missing_rows(client, table, version, pks)
    if missing:
        raise PublishError(
            f"version {version}: {len(missing)} of {len(pks)} sampled rows cannot be read back from "
            f"table {table} (e.g. {missing[:3]}); the pointer was not flipped"
        )


# --- 5. the pointer and retention -----------------------------------------------------------------


def current_pointer(client, table: str) -> contract.Pointer | None:
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


def list_registry(client, table: str) -> list[dict]:
    """Every version's registry entry, newest first."""
    entries, start = [], None
    while True:
        page = client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": contract.version_pk()}},
            ConsistentRead=True,
            **({"ExclusiveStartKey": start} if start else {}),
        )
        entries.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return sorted(entries, key=lambda e: float(e["created_at"]["N"]), reverse=True)


def retire_old_versions(client, table: str, keep: int) -> list[str]:
    """Mark published versions beyond the newest ``keep`` (the served one always kept) as retired."""
    current = current_pointer(client, table)
    entries = [e for e in list_registry(client, table) if e["status"]["S"] == "published"]
    entries.sort(key=lambda e: float(e.get("published_at", e["created_at"])["N"]), reverse=True)
    published = [e["sk"]["S"] for e in entries]
    kept = ([current.version] if current else []) + [
        v for v in published if not current or v != current.version
    ]
    retired = kept[keep:]
    for version in retired:
        set_status(client, table, version, "retired")
    return retired


def finish_version(
    client, table: str, version: str, k: int, written_of: tuple[int, int], pks: list[str], keep_versions: int
) -> tuple[str | None, bool, list[str]]:
    """Verify a written version, flip the pointer to it, mark it published and retire old versions.

    For a sharded publish: ``begin_version`` once, ``write_rows`` per shard, then this with
    the shards' summed count. Returns (previous version, whether the pointer changed, retired).
    """
    written, expected = written_of
    verify_version(client, table, version, written, expected, pks)
    previous, flipped = flip_pointer(client, table, version, k)
    set_status(client, table, version, "published", rows_done=expected, published_at=round(time.time(), 6))
    return previous, flipped, retire_old_versions(client, table, keep_versions)


# --- the stage ------------------------------------------------------------------------------------


def publish(
    client,
    table: str,
    version: str,
    pre: Precomputed,
    metrics: dict,
    ttl_days: int,
    workers: int = 4,
    *,
    keep_versions: int = 2,
    max_attempts: int = 8,
    base_delay: float = 0.05,
    create_table: bool = True,
    progress: bool | None = None,
) -> PublishReport:
    """Write every row of ``version``, verify them, then flip the pointer to it and retire old versions.

    Re-running a version that crashed half-way resumes after its watermark; re-running a
    published one does nothing. ``progress``: None shows a bar on a terminal for long publishes.
    """
    started = time.perf_counter()
    check_table(client, table, create=create_table)

    # register the version (or find where an earlier run of it stopped)
    keys = check_keys(pre)
    start = begin_version(
        client, table, version, rows=pre.n_rows, k=pre.k, metrics=metrics, ttl_days=ttl_days,
        digest=fingerprint(pre), check_keys=keys,
    )  # fmt: skip
    if start.status != "writing":
        log.info("version %s is already %s: nothing to do", version, start.status)
        pointer = current_pointer(client, table)
        return PublishReport(version, 0, pointer.previous if pointer else None, 0.0, start.rows_done, False)

    # write the rows not yet known written, saving the watermark as batches complete
    rows = islice(version_rows(version, pre, start.expires_at), start.rows_done, None)
    written = _write_with_watermark(
        client, table, version, rows, (start.rows_done, pre.n_rows), progress,
        workers=workers, max_attempts=max_attempts, base_delay=base_delay,
    )  # fmt: skip

    # verify, flip, retire
    previous, flipped, retired = finish_version(
        client, table, version, pre.k, (start.rows_done + written, pre.n_rows), keys, keep_versions
    )
    seconds = time.perf_counter() - started
    log.info(
        "published %s: %d rows in %.1fs (%.0f rows/s; resumed after %d; previous: %s; retired: %s)",
        version, written, seconds, written / max(seconds, 1e-9), start.rows_done, previous, retired,
    )  # fmt: skip
    return PublishReport(version, written, previous, seconds, start.rows_done, flipped, tuple(retired))


def _write_with_watermark(
    client, table: str, version: str, rows: Iterable[dict], done_of: tuple[int, int], progress, **options
) -> int:
    """``write_rows`` with a progress bar (rows/s) and the resume watermark saved every CHECKPOINT_ROWS."""
    rows_done, total = done_of
    # progress None: a bar on a terminal (tqdm's disable=None) for long publishes only
    short = total - rows_done < PROGRESS_MIN_ROWS
    disable = (True if short else None) if progress is None else not progress
    bar = tqdm(total=total, initial=rows_done, unit="rows", unit_scale=True, desc=f"publish {version}",
               disable=disable, mininterval=1.0)  # fmt: skip
    watermark = {"done": rows_done, "saved": rows_done}

    def on_batch(n: int) -> None:
        watermark["done"] += n
        bar.update(n)
        if watermark["done"] - watermark["saved"] >= CHECKPOINT_ROWS:
            save_watermark(client, table, version, watermark["done"])
            watermark["saved"] = watermark["done"]

    try:
        return write_rows(client, table, rows, on_batch=on_batch, **options)
    finally:
        bar.close()
