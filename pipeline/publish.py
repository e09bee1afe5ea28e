"""Publish: write a model version's rows to DynamoDB, then flip the current-version pointer.

The item layout is ``lambda_api.contract``'s. Rows are written under the new
version, so readers keep resolving the old pointer until every row is in; only
then is the pointer flipped. Rollback is a flip back to an earlier version.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice

from botocore.exceptions import ClientError

from lambda_api import contract
from pipeline.errors import PipelineError
from pipeline.recommend import Precomputed, TopK

log = logging.getLogger(__name__)

BATCH_SIZE = 25  # BatchWriteItem's maximum
RETRYABLE = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


class PublishError(PipelineError):
    """Rows could not be written; the current-version pointer was not touched."""


@dataclass(frozen=True)
class PublishReport:
    version: str
    rows_written: int
    previous_version: str | None
    seconds: float


def ensure_table(client, table: str) -> None:
    """Create the table if it is missing; refuse one whose key schema is not the contract's."""
    try:
        described = client.describe_table(TableName=table)["Table"]
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        log.info("creating DynamoDB table %s", table)
        client.create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": contract.PARTITION_KEY, "KeyType": "HASH"},
                {"AttributeName": contract.SORT_KEY, "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": contract.PARTITION_KEY, "AttributeType": "S"},
                {"AttributeName": contract.SORT_KEY, "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client.get_waiter("table_exists").wait(TableName=table)
        client.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": contract.TTL_ATTRIBUTE},
        )
        return
    keys = {k["AttributeName"]: k["KeyType"] for k in described["KeySchema"]}
    expected = {contract.PARTITION_KEY: "HASH", contract.SORT_KEY: "RANGE"}
    if keys != expected:
        raise PublishError(
            f"DynamoDB table {table} has key schema {keys}, but the item contract needs {expected}"
        )


def chunks(items: Iterable[dict], size: int) -> Iterator[list[dict]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def write_batch(
    client, table: str, items: list[dict], max_attempts: int = 8, base_delay: float = 0.05
) -> int:
    """BatchWriteItem with unprocessed items and throttling retried (exponential backoff, full jitter)."""
    pending = [{"PutRequest": {"Item": item}} for item in items]
    for attempt in range(max_attempts):
        try:
            response = client.batch_write_item(RequestItems={table: pending})
            pending = response.get("UnprocessedItems", {}).get(table, [])
        except ClientError as err:
            if err.response["Error"]["Code"] not in RETRYABLE:
                raise PublishError(f"writing to DynamoDB table {table} failed: {err}") from err
        if not pending:
            return len(items)
        time.sleep(random.uniform(0, base_delay * 2**attempt))
    raise PublishError(
        f"{len(pending)} of {len(items)} rows still unprocessed by table {table} "
        f"after {max_attempts} attempts"
    )


def write_rows(client, table: str, rows: Iterable[dict], workers: int = 4) -> int:
    """Write all rows in parallel batches; returns the number written."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(lambda batch: write_batch(client, table, batch), chunks(rows, BATCH_SIZE)))


def current_pointer(client, table: str) -> contract.Pointer | None:
    item = client.get_item(TableName=table, Key=contract.POINTER_KEY, ConsistentRead=True).get("Item")
    return contract.decode_pointer(item) if item else None


def flip_pointer(client, table: str, version: str, k: int) -> str | None:
    """Point readers at ``version``; returns the version that was current before."""
    previous = current_pointer(client, table)
    previous_version = previous.version if previous else None
    pointer = contract.Pointer(version=version, k=k, previous=previous_version)
    client.put_item(TableName=table, Item=contract.encode_pointer(pointer, int(time.time())))
    return previous_version


def record_version(
    client, table: str, version: str, status: str, rows: int, k: int, metrics: dict, expires_at: int
) -> None:
    """The version's entry in the registry that ``recs versions`` lists."""
    client.put_item(
        TableName=table,
        Item={
            **contract.row_key(contract.version_pk(), version),
            "status": {"S": status},
            "rows": {"N": str(rows)},
            "k": {"N": str(k)},
            "metrics": {"S": json.dumps(metrics, default=float)},
            "created_at": {"N": str(int(time.time()))},
            contract.TTL_ATTRIBUTE: {"N": str(expires_at)},
        },
    )


def _ranked(top: TopK, i: int, item_ids) -> contract.RankedItems:
    idx, scores = top.row(i)
    return contract.RankedItems(tuple(item_ids[idx].tolist()), tuple(scores.tolist()))


def version_rows(version: str, pre: Precomputed, expires_at: int) -> Iterator[dict]:
    """Every DynamoDB item of a version: one per user, one per item, one per popular segment."""
    for i, user_id in enumerate(pre.user_ids.tolist()):
        ranked = _ranked(pre.users, i, pre.item_ids)
        yield contract.encode_row(contract.user_pk(user_id), version, ranked, expires_at)
    for j, item_id in enumerate(pre.item_ids.tolist()):
        ranked = _ranked(pre.similar, j, pre.item_ids)
        yield contract.encode_row(contract.item_pk(item_id), version, ranked, expires_at)
    for segment, top in pre.popular.items():
        ranked = _ranked(top, 0, pre.item_ids)
        yield contract.encode_row(contract.popular_pk(segment), version, ranked, expires_at)


def publish(
    client, table: str, version: str, pre: Precomputed, metrics: dict, ttl_days: int, workers: int = 4
) -> PublishReport:
    """Write every row of ``version``, check the count, then flip the pointer to it."""
    started = time.perf_counter()
    expires_at = int(time.time()) + ttl_days * 86400
    ensure_table(client, table)
    record_version(client, table, version, "writing", pre.n_rows, pre.k, metrics, expires_at)
    written = write_rows(client, table, version_rows(version, pre, expires_at), workers)
    if written != pre.n_rows:
        raise PublishError(f"version {version}: wrote {written} rows but expected {pre.n_rows}")
    previous = flip_pointer(client, table, version, pre.k)
    record_version(client, table, version, "published", written, pre.k, metrics, expires_at)
    log.info(
        "published %s: %d rows in %.1fs (previous: %s)",
        version,
        written,
        time.perf_counter() - started,
        previous,
    )
    return PublishReport(version, written, previous, time.perf_counter() - started)
