"""The impression record: one JSON line per recommendation answer, the joint between serving and feedback.

The API writes one record per answer of both recommendation routes; the feedback side reads them
back (from the stack's bucket, under ``impressions/``) and joins them with what users did next.

    field        type                 meaning
    -----------  -------------------  ------------------------------------------------------------
    rec_id       str                  the answer's id (the ``rec_id`` of the response body)
    ts           str                  when it was answered: ISO-8601 UTC, milliseconds, trailing Z
    route        "user" | "similar"   which route answered
    user_id      str | null           the user of a user answer
    item_id      str | null           the item of a similar-items answer
    version      str                  the model version whose rows answered
    experiment   str | null           the running experiment the user was bucketed in
    arm          "control" | "treatment" | null
    source       str                  "personal", "fallback", ...
    items        [str]                the listed item ids, in rank order

On AWS the line is the message of a CloudWatch Logs event, and reaches S3 through a subscription
filter and Firehose, in the CloudWatch Logs envelope (gzipped JSON, ``logEvents[].message``);
``records_of_envelope`` reads one such object back. Lines of the log group that are not
impressions (Lambda's own START/END/REPORT lines, warnings) are skipped there.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Route = Literal["user", "similar"]
Arm = Literal["control", "treatment"]

IMPRESSION_FIELDS = (
    "rec_id",
    "ts",
    "route",
    "user_id",
    "item_id",
    "version",
    "experiment",
    "arm",
    "source",
    "items",
)
IMPRESSIONS_PREFIX = "impressions/"  # where the records land in the stack's bucket


@dataclass(frozen=True, slots=True)
class Impression:
    """One answer as it was served (see the module's table)."""

    rec_id: str
    ts: str
    route: Route
    user_id: str | None
    item_id: str | None
    version: str
    experiment: str | None
    arm: Arm | None
    source: str
    items: tuple[str, ...]


def impression_time(at: datetime | None = None) -> str:
    """``at`` (default: now) as the record's ``ts``: ISO-8601 UTC with milliseconds and a trailing Z."""
    if at is None:  # the hit path: time.gmtime is several times cheaper than datetime.strftime
        millis = time.time_ns() // 1_000_000
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)) + f".{millis % 1000:03d}Z"
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode_impression(r: Impression) -> str:
    """The record as one compact JSON line (no newline inside: ids are JSON-escaped)."""
    return impression_line(
        r.rec_id, r.ts, r.route, r.user_id, r.item_id, r.version, r.experiment, r.arm, r.source, r.items
    )


def impression_line(
    rec_id: str,
    ts: str,
    route: Route,
    user_id: str | None,
    item_id: str | None,
    version: str,
    experiment: str | None,
    arm: Arm | None,
    source: str,
    items: Iterable[str],
) -> str:
    """``encode_impression`` without building the record first (the API's hit path; a frozen
    dataclass costs about as much to build as the line does to encode)."""
    return _ENCODER.encode(  # a plain dict: dataclasses.asdict deep-copies, ten times the cost
        {
            "rec_id": rec_id, "ts": ts, "route": route, "user_id": user_id, "item_id": item_id,
            "version": version, "experiment": experiment, "arm": arm, "source": source, "items": list(items),
        }
    )  # fmt: skip


def decode_impression(line: str) -> Impression:
    """A record from its JSON line; ValueError naming the field when one is missing or mistyped."""
    values = json.loads(line)
    if not isinstance(values, dict):
        raise ValueError(f"an impression must be a JSON object, got {type(values).__name__}")
    missing = [name for name in IMPRESSION_FIELDS if name not in values]
    if missing:
        raise ValueError(f"impression {str(values.get('rec_id'))[:40]!r} lacks the fields {missing}")
    for name in ("rec_id", "ts", "version", "source"):
        if not isinstance(values[name], str):
            raise ValueError(f"impression field {name} must be a string, got {values[name]!r:.40}")
    if values["route"] not in ("user", "similar"):
        raise ValueError(f"impression field route must be 'user' or 'similar', got {values['route']!r:.40}")
    if values["arm"] not in ("control", "treatment", None):
        arm = f"{values['arm']!r:.40}"
        raise ValueError(f"impression field arm must be control, treatment or null, got {arm}")
    items = values["items"]
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError("impression field items must be a list of item id strings")
    return Impression(**{**{n: values[n] for n in IMPRESSION_FIELDS}, "items": tuple(items)})


def is_impression_line(message: str) -> bool:
    """Whether a log line is an impression record (what the subscription filter selects)."""
    return message.startswith('{"rec_id":')


def records_of_envelope(body: bytes) -> list[Impression]:
    """The impressions in one object Firehose wrote from a CloudWatch Logs subscription.

    The object holds one or more gzipped envelopes (Firehose concatenates them); each is a JSON
    object whose ``logEvents[].message`` are log lines. ``CONTROL_MESSAGE`` envelopes (the
    subscription's own probe) and lines that are not impressions are skipped.
    """
    text = gzip.decompress(body).decode("utf-8")
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        envelope, at = decoder.raw_decode(text, at)
        if envelope.get("messageType") != "DATA_MESSAGE":
            continue
        found += [
            decode_impression(e["message"]) for e in envelope["logEvents"] if is_impression_line(e["message"])
        ]
    return found
