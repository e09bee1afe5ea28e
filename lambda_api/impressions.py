"""Where the API's impression records go: one JSON line per answer (``contract.Impression``).

The record takes the same road everywhere from the CloudWatch log group on (subscription filter
→ Firehose → the bucket's ``impressions/``); only how a line reaches the log group differs:

- ``stdout`` (Lambda): the line is written to stdout and flushed before the answer is returned.
  Lambda's runtime ships stdout to the function's log group itself, synchronously with the
  invocation, so a container frozen (or killed) right after answering loses nothing, and the
  request pays one small write (no network call, no thread).
- ``log_group`` (``recs api``, ``recs replay``, tests: the local moto server has no Lambda runtime
  to ship stdout): lines are queued and a background thread sends them to the log group with
  ``PutLogEvents``, in batches, every ``impressions_flush_seconds``; ``flush()`` sends the queue
  now. The request only appends to a list.
- ``off``: no records (an API that only serves).

A line that cannot be written is logged with the reason and counted, never raised into the answer:
the user still gets their recommendations, and ``/stats``-style counters (``dropped``) tell.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import contract
from lambda_api.schemas import SimilarItems, UserRecommendations

if TYPE_CHECKING:
    from lambda_api.settings import ApiSettings

log = logging.getLogger(__name__)

MAX_BATCH = 1_000  # PutLogEvents takes at most 10,000 events and 1 MB; 1,000 lines stay far inside


class ImpressionSink(Protocol):
    records: bool  # False: the answer's line is not even built (``record``)

    def write(self, line: str) -> None: ...

    def flush(self) -> None: ...


class NoSink:
    """``impressions = "off"``."""

    records = False

    def write(self, line: str) -> None:
        return None

    def flush(self) -> None:
        return None


class StdoutSink:
    """One line on stdout per record, flushed at once (Lambda ships stdout to the log group)."""

    records = True

    def __init__(self, stream=None):
        self._stream = stream

    def write(self, line: str) -> None:
        stream = self._stream or sys.stdout
        stream.write(line + "\n")
        stream.flush()

    def flush(self) -> None:
        (self._stream or sys.stdout).flush()


@dataclass
class ShipStats:
    sent: int = 0
    dropped: int = 0


class LogGroupSink:
    """Lines queued by the request, sent to a CloudWatch log group by a background thread."""

    records = True

    def __init__(
        self,
        client_factory: Callable[[], Any],
        group: str,
        flush_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
    ):
        self._client_factory = client_factory
        self._client: Any = None
        self._group = group
        self._stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/api-{uuid.uuid4().hex}"
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._queue: list[tuple[int, str]] = []
        self._queue_lock = threading.Lock()
        self._send_lock = threading.Lock()  # one PutLogEvents at a time, so events stay in order
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = ShipStats()

    def write(self, line: str) -> None:
        with self._queue_lock:
            self._queue.append((int(self._clock() * 1000), line))
        if self._thread is None:
            self._start()

    def flush(self) -> None:
        """Send every queued line now (the caller waits)."""
        with self._send_lock:
            while True:
                with self._queue_lock:
                    batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                if not batch:
                    return
                self._send(batch)

    def _start(self) -> None:
        with self._queue_lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="impressions", daemon=True)
        atexit.register(self.flush)  # `recs api` stopping: what is queued still goes
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._flush_seconds)
            self.flush()

    def _send(self, batch: list[tuple[int, str]]) -> None:
        try:
            client = self._connected()
            client.put_log_events(
                logGroupName=self._group,
                logStreamName=self._stream,
                logEvents=[{"timestamp": ts, "message": line} for ts, line in batch],
            )
            self.stats.sent += len(batch)
        except Exception as err:  # noqa: BLE001 (any failure: the lines are counted and the reason logged)
            self.stats.dropped += len(batch)
            log.error(
                "%d impression records could not be sent to log group %s (%s: %s)",
                len(batch), self._group, type(err).__name__, err,
            )  # fmt: skip

    def _connected(self):
        if self._client is None:
            client = self._client_factory()
            exists = client.exceptions.ResourceAlreadyExistsException
            with contextlib.suppress(exists):  # a retry after a failed first send: the stream is there
                client.create_log_stream(logGroupName=self._group, logStreamName=self._stream)
            self._client = client
        return self._client


def build_sink(settings: ApiSettings, client_factory: Callable[[], Any]) -> ImpressionSink:
    """The sink the settings name (``impressions``)."""
    if settings.impressions == "off":
        return NoSink()
    if settings.impressions == "stdout":
        return StdoutSink()
    assert settings.impressions_log_group is not None  # the settings' validator holds it
    return LogGroupSink(client_factory, settings.impressions_log_group, settings.impressions_flush_seconds)


def record(sink: ImpressionSink, answer: UserRecommendations | SimilarItems) -> None:
    """The answer's impression line into ``sink``; with impressions off, nothing is built at all."""
    if sink.records:
        sink.write(line_of(answer))


def line_of(answer: UserRecommendations | SimilarItems) -> str:
    """The impression line of one answer, as its body says it (``contract.Impression``'s fields)."""
    user = isinstance(answer, UserRecommendations)
    return contract.impression_line(
        rec_id=answer.rec_id,
        ts=contract.impression_time(),
        route="user" if user else "similar",
        user_id=answer.user_id if isinstance(answer, UserRecommendations) else None,
        item_id=answer.item_id if isinstance(answer, SimilarItems) else None,
        version=answer.model_version,
        experiment=answer.experiment,
        arm=answer.arm,
        source=answer.source,
        items=[i.item_id for i in answer.items],
    )
