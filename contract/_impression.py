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
filter and Firehose, in the CloudWatch Logs envelope (gzipped JSON, ``logEvents[].message``).
This module only writes records; the one reader, which checks every field and quarantines what
breaks a rule, is the feedback side's (``pipeline.feedback.records.parse_object``).
"""

from __future__ import annotations

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
