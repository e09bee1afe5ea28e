"""One nightly run at a time across machines: a lease on one DynamoDB item.

Prefect's concurrency slot (pipeline/ops/concurrency.py) holds only where every run talks to
the same Prefect server; a scheduler that starts the job on two containers needs a lock that
does not. The lock is the item ``contract.LOCK_KEY`` of the serving table:

    holder       who holds it: host, process and a random token
    expires_at   the end of the lease (epoch seconds)

A run takes it with a conditional write that succeeds only when no item is there, its lease
has ended, or this holder already has it; it renews the lease every third of its length
while it runs, and ends the lease (only if still its own) when it ends. A holder that dies stops
renewing, and the lease ends on its own. A second run fails at once with ``RunInProgressError``
naming the holder and the lease's end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import ClientError

import contract
from pipeline.ops.concurrency import RunInProgressError

log = logging.getLogger(__name__)


class LockLostError(RunInProgressError):
    """This run's lease ended (it could not renew in time) and another run may hold the lock now."""


@dataclass(frozen=True)
class Lease:
    holder: str
    expires_at: float

    def ends(self) -> str:
        return datetime.fromtimestamp(self.expires_at, UTC).isoformat(timespec="seconds")


def new_holder() -> str:
    return f"{socket.gethostname()}:pid{os.getpid()}:{secrets.token_hex(3)}"


def acquire(client, table: str, holder: str, lease_seconds: float, now: float | None = None) -> Lease:
    """Take the lock for ``lease_seconds``; ``RunInProgressError`` naming the holder when another has it."""
    now = time.time() if now is None else now
    lease = Lease(holder, now + lease_seconds)
    try:
        client.put_item(
            TableName=table,
            Item={**contract.LOCK_KEY, "holder": {"S": holder}, "expires_at": _number(lease.expires_at)},
            ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR holder = :me",
            ExpressionAttributeValues={":now": _number(now), ":me": {"S": holder}},
        )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        other = current(client, table, now)
        who = f"{other.holder}, whose lease ends {other.ends()}" if other else "a run that just ended"
        raise RunInProgressError(
            f"another nightly run holds the lock (item meta#lock/nightly in DynamoDB table {table}): {who}; "
            "this run did nothing"
        ) from None
    return lease


def _number(seconds: float) -> dict:
    return {"N": f"{seconds:.3f}"}


def current(client, table: str, now: float | None = None) -> Lease | None:
    """The lease held now, or None (no item, or its lease is over)."""
    item = client.get_item(TableName=table, Key=contract.LOCK_KEY, ConsistentRead=True).get("Item")
    if not item:
        return None
    lease = Lease(item["holder"]["S"], float(item["expires_at"]["N"]))
    return lease if lease.expires_at >= (time.time() if now is None else now) else None


def renew(client, table: str, lease: Lease, lease_seconds: float) -> Lease:
    """The lease moved on by ``lease_seconds`` from now; ``LockLostError`` when it is no longer ours."""
    renewed = Lease(lease.holder, time.time() + lease_seconds)
    if not _end_lease_at(client, table, lease.holder, renewed.expires_at):
        raise LockLostError(
            f"the nightly lock in table {table} is no longer held by {lease.holder}: its lease ended "
            f"{lease.ends()} before it was renewed"
        )
    return renewed


def release(client, table: str, lease: Lease) -> None:
    """End the lease now if it is still ours (another holder's is left alone). The item stays, with
    its lease over: the job's role may write the table but delete nothing from it."""
    if not _end_lease_at(client, table, lease.holder, 0):
        log.warning("the nightly lock in table %s was no longer %s's to release", table, lease.holder)


def _end_lease_at(client, table: str, holder: str, expires_at: float) -> bool:
    """Set the lease's end, if ``holder`` still holds the lock (False when another does)."""
    try:
        client.update_item(
            TableName=table,
            Key=contract.LOCK_KEY,
            UpdateExpression="SET expires_at = :until",
            ConditionExpression="holder = :me",
            ExpressionAttributeValues={":until": _number(expires_at), ":me": {"S": holder}},
        )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        return False
    return True


class Held:
    """A lock being held: renewed in a background thread; ``check()`` raises once it was lost."""

    def __init__(self, client, table: str, lease: Lease, lease_seconds: float):
        self.client, self.table, self.lease, self.lease_seconds = client, table, lease, lease_seconds
        self._stop = threading.Event()
        self._lost: BaseException | None = None
        self._thread = threading.Thread(target=self._renew, name="recs-lock-renewal", daemon=True)

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                self.lease = renew(self.client, self.table, self.lease, self.lease_seconds)
            except LockLostError as err:
                self._lost = err
                log.error("%s", err)
                return
            except Exception as err:  # a network blip: the next try may work before the lease ends
                log.warning("could not renew the nightly lock in table %s: %s", self.table, err)

    def check(self) -> None:
        """Raise ``LockLostError`` if the lease was lost: the caller must not save shared state."""
        if self._lost is not None:
            raise self._lost


@contextlib.contextmanager
def held(client, table: str, lease_seconds: float, holder: str | None = None) -> Iterator[Held]:
    """The lock for the block: taken (or ``RunInProgressError``), renewed while it runs, released after."""
    lease = acquire(client, table, holder or new_holder(), lease_seconds)
    log.info("nightly lock taken by %s in table %s until %s", lease.holder, table, lease.ends())
    holding = Held(client, table, lease, lease_seconds)
    holding._thread.start()
    try:
        yield holding
    finally:
        holding._stop.set()
        holding._thread.join()
        release(client, table, holding.lease)
