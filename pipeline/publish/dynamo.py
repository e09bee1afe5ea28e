"""The DynamoDB mechanics the publisher stands on: the table check, batched writes and reads.

``check_table`` makes sure the table has the item contract's key schema (creating it,
with TTL on, when asked). ``write_rows`` streams rows into parallel BatchWriteItem
calls; unprocessed items and transient errors (``pipeline.aws.is_transient``: throttling,
dropped connections) are retried with exponential backoff and full jitter, and a batch that
still fails after ``max_attempts`` raises ``PublishError``. ``missing_rows`` reads keys back
with consistent BatchGetItem calls, retried the same way.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice

from botocore.exceptions import BotoCoreError, ClientError

import contract
from pipeline.aws import backoff, is_transient
from pipeline.errors import PublishError

log = logging.getLogger(__name__)

BATCH_SIZE = 25  # BatchWriteItem's maximum
READ_BATCH_SIZE = 100  # BatchGetItem's maximum


def check_table(client, table: str, create: bool = False) -> None:
    """The table exists with the contract's key schema; created (with TTL on) if missing and ``create``."""
    try:
        described = client.describe_table(TableName=table)["Table"]
    except ClientError as err:
        if err.response["Error"]["Code"] != "ResourceNotFoundException":
            raise PublishError(f"cannot describe DynamoDB table {table}: {err}") from err
        if not create:
            raise PublishError(
                f"DynamoDB table {table} does not exist; create it from infra/ "
                "(or set create_table = true for a local run)"
            ) from None
        _create_table(client, table)
        return
    problem = _key_schema_problem(described)
    if problem:
        raise PublishError(f"DynamoDB table {table} {problem}")


def _create_table(client, table: str) -> None:
    log.info("creating DynamoDB table %s", table)
    client.create_table(
        TableName=table,
        **contract.table_keys(),
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table)
    client.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": contract.TTL_ATTRIBUTE},
    )


def _key_schema_problem(described: dict) -> str | None:
    """What is wrong with a described table's keys, or None when they are the contract's."""
    types = {a["AttributeName"]: a["AttributeType"] for a in described.get("AttributeDefinitions", [])}
    found = {
        k["AttributeName"]: (k["KeyType"], types.get(k["AttributeName"])) for k in described["KeySchema"]
    }
    expected = contract.KEY_SCHEMA
    if found == expected:
        return None

    def show(keys: dict) -> str:
        return ", ".join(f"{name} ({kind}, {typ})" for name, (kind, typ) in keys.items())

    return f"has key schema {show(found)}, but the item contract needs {show(expected)}"


def chunks(items: Iterable[dict], size: int) -> Iterator[list[dict]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def write_batch(
    client,
    table: str,
    items: list[dict],
    max_attempts: int = 8,
    base_delay: float = 0.05,
    max_delay: float = 5.0,
) -> int:
    """One BatchWriteItem of up to 25 items, retrying unprocessed items and throttling.

    Waits between tries grow exponentially with full jitter (uniform in [0, base * 2^attempt],
    capped at ``max_delay``); returns the number of items DynamoDB acknowledged.
    """
    pending = [{"PutRequest": {"Item": item}} for item in items]
    last_error: Exception | None = None
    for attempt in range(max_attempts):
        try:
            response = client.batch_write_item(RequestItems={table: pending})
            pending = response.get("UnprocessedItems", {}).get(table, [])
            last_error = None
        except (ClientError, BotoCoreError) as err:
            if not is_transient(err):
                raise PublishError(f"writing to DynamoDB table {table} failed: {err}") from err
            last_error = err
        if not pending:
            return len(items)
        if attempt + 1 < max_attempts:
            time.sleep(backoff(attempt, base_delay, max_delay))
    cause = f" (last error: {last_error})" if last_error else ""
    raise PublishError(
        f"{len(pending)} of {len(items)} rows still unprocessed by DynamoDB table {table} "
        f"after {max_attempts} attempts{cause}"
    )


def write_rows(
    client,
    table: str,
    rows: Iterable[dict],
    workers: int = 4,
    *,
    max_attempts: int = 8,
    base_delay: float = 0.05,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Write rows in parallel BatchWriteItem calls; returns how many DynamoDB acknowledged.

    At most ``2 * workers`` batches are in flight, so memory stays flat on any number of
    rows. ``on_batch(n)`` is called in stream order as each batch completes, so the running
    sum is a watermark: every row before it is written. The first failure cancels the
    batches not yet started and is raised.
    """
    written = 0
    in_flight: deque[Future] = deque()

    def settle() -> None:
        nonlocal written
        done = in_flight.popleft().result()
        written += done
        if on_batch:
            on_batch(done)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="publish") as pool:
        try:
            for batch in chunks(rows, BATCH_SIZE):
                if len(in_flight) >= 2 * workers:
                    settle()
                in_flight.append(pool.submit(write_batch, client, table, batch, max_attempts, base_delay))
            while in_flight:
                settle()
        except BaseException:
            for future in in_flight:
                future.cancel()
            raise
    return written


def missing_rows(
    client, table: str, version: str, pks: list[str], max_attempts: int = 8, base_delay: float = 0.05
) -> list[str]:
    """The partition keys that have no row under ``version`` (consistent reads, 100 at a time).

    Unprocessed keys and transient errors are retried up to ``max_attempts`` times per batch."""
    found: set[str] = set()
    for start in range(0, len(pks), READ_BATCH_SIZE):
        keys = [contract.row_key(pk, version) for pk in dict.fromkeys(pks[start : start + READ_BATCH_SIZE])]
        request = {table: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "pk"}}
        for attempt in range(max_attempts):
            try:
                response = client.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as err:
                if not is_transient(err):
                    raise PublishError(f"reading back rows of table {table} failed: {err}") from err
            else:
                found.update(item["pk"]["S"] for item in response["Responses"].get(table, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
            if attempt + 1 < max_attempts:
                time.sleep(backoff(attempt, base_delay))
        else:
            raise PublishError(
                f"reading back rows of version {version} from table {table} kept being throttled "
                f"({max_attempts} attempts)"
            )
    return [pk for pk in pks if pk not in found]
