"""Impression records: the bytes of one log object read into typed records, each bad one with its reason.
The one reader of what ``contract``'s impression writer writes (the nightly, ``recs feedback``,
the local tools and the tests all read through ``parse_object``).

The serving side writes one record per answer (``Impression``'s fields). They reach the bucket in
one of two shapes, told apart by their bytes, not their names:

- CloudWatch Logs subscription envelopes delivered by Firehose: gzip (often several gzip members
  concatenated, one per delivery), holding JSON objects back to back,
  ``{"messageType": "DATA_MESSAGE", "logEvents": [{"message": "<record as JSON>"}, ...]}``.
  ``CONTROL_MESSAGE`` envelopes, and log lines that are not a JSON object with a ``rec_id``
  (a Lambda's START/END/REPORT lines, other logging), are skipped and counted;
- plain JSON lines of records (local files, tests), gzipped or not.

A JSON object with a ``rec_id`` that breaks a rule below is a bad record: it is returned with
the rule it broke, for quarantine, and never stops the rest of the object from loading.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import get_args

import contract

ROUTES: tuple[str, ...] = get_args(contract.Route)  # the writer's, so that the two never drift
ARMS: tuple[str, ...] = contract.ARMS
MAX_REC_ID = 128  # the API makes 32 hex characters; anything far longer was not made by it
MAX_ITEMS = 1000
MAX_RAW = 2000  # characters of a bad record kept in quarantine
EARLIEST = datetime(2020, 1, 1)


@dataclass(frozen=True)
class Impression:
    """One answer of the API: the items it listed, in rank order (``items[0]`` has rank 1)."""

    rec_id: str
    ts: datetime  # UTC, without a zone (as the warehouse stores every time)
    route: str
    user_id: str | None
    item_id: str | None
    version: str
    experiment: str | None
    arm: str | None
    source: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class BadRecord:
    position: int  # the record's place in its object (1-based), 0 for the object as a whole
    reason: str
    raw: str


@dataclass
class Parsed:
    records: list[Impression] = field(default_factory=list)
    bad: list[BadRecord] = field(default_factory=list)
    skipped: int = 0  # control messages and log lines that are not records


class Invalid(ValueError):
    """A record breaks a rule; the message is the reason quarantine keeps."""


def parse_object(data: bytes, now: datetime | None = None) -> Parsed:
    """Every record of one log object (envelopes or JSON lines, gzipped or not)."""
    parsed = Parsed()
    try:
        text = decompressed(data).decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as err:
        parsed.bad.append(BadRecord(0, f"object is neither gzip nor UTF-8 JSON: {err}", ""))
        return parsed
    for value, raw in json_values(text, parsed):
        if isinstance(value, dict) and "messageType" in value:
            read_envelope(value, parsed, now)
        else:
            read_record(value, raw, parsed, now)
    return parsed


def decompressed(data: bytes) -> bytes:
    """The bytes, with every concatenated gzip member inflated when they are gzip."""
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def json_values(text: str, parsed: Parsed):
    """(value, its text) for each JSON value, back to back or one per line; a broken one is bad."""
    decoder, at, end = json.JSONDecoder(), 0, len(text)
    while True:
        while at < end and text[at] in " \t\r\n":
            at += 1
        if at == end:
            return
        try:
            value, stop = decoder.raw_decode(text, at)
        except json.JSONDecodeError as err:
            line_end = text.find("\n", at)
            stop = end if line_end < 0 else line_end + 1
            parsed.bad.append(
                BadRecord(
                    len(parsed.records) + len(parsed.bad) + 1, f"not JSON: {err.msg}", text[at:stop][:MAX_RAW]
                )
            )
        else:
            yield value, text[at:stop]
        at = stop


def read_envelope(envelope: dict, parsed: Parsed, now: datetime | None) -> None:
    if envelope.get("messageType") != "DATA_MESSAGE":
        parsed.skipped += 1
        return
    events = envelope.get("logEvents")
    if not isinstance(events, list):
        parsed.bad.append(
            BadRecord(0, "DATA_MESSAGE without a logEvents list", json.dumps(envelope)[:MAX_RAW])
        )
        return
    for event in events:
        message = event.get("message") if isinstance(event, dict) else None
        try:
            value = json.loads(message) if isinstance(message, str) else None
        except json.JSONDecodeError:
            value = None
        read_record(value, message if isinstance(message, str) else "", parsed, now)


def read_record(value: object, raw: str, parsed: Parsed, now: datetime | None) -> None:
    if not isinstance(value, dict) or "rec_id" not in value:
        parsed.skipped += 1  # a log line of something else
        return
    try:
        parsed.records.append(impression(value, now))
    except Invalid as err:
        parsed.bad.append(BadRecord(len(parsed.records) + len(parsed.bad) + 1, str(err), raw[:MAX_RAW]))


def impression(value: dict, now: datetime | None = None) -> Impression:
    """The record as an ``Impression``; ``Invalid`` naming the field and the rule otherwise."""
    rec_id = text(value, "rec_id", MAX_REC_ID)
    route = choice(value, "route", ROUTES)
    experiment = optional_text(value, "experiment")
    arm = optional_choice(value, "arm", ARMS)
    if (experiment is None) != (arm is None):
        raise Invalid(f"experiment {experiment!r} and arm {arm!r}: both are set or both are null")
    user_id, item_id = optional_id(value, "user_id"), optional_id(value, "item_id")
    if (route == "user" and user_id is None) or (route == "similar" and item_id is None):
        raise Invalid(f"route {route!r} needs its {'user_id' if route == 'user' else 'item_id'}")
    return Impression(
        rec_id=rec_id,
        ts=timestamp(value.get("ts"), now),
        route=route,
        user_id=user_id,
        item_id=item_id,
        version=text(value, "version", contract.MAX_ID_LENGTH),
        experiment=experiment,
        arm=arm,
        source=text(value, "source", 64),
        items=items(value.get("items")),
    )


def text(value: dict, name: str, max_length: int) -> str:
    found = value.get(name)
    if not isinstance(found, str) or not found.strip():
        raise Invalid(f"{name} must be a non-empty string, got {_short(found)}")
    if len(found) > max_length:
        raise Invalid(f"{name} has {len(found)} characters, more than {max_length}")
    return found


def optional_text(value: dict, name: str) -> str | None:
    return None if value.get(name) is None else text(value, name, contract.MAX_ID_LENGTH)


def optional_id(value: dict, name: str) -> str | None:
    found = value.get(name)
    if found is None:
        return None
    problem = contract.id_problem(found) if isinstance(found, str) else "must be a string"
    if problem:
        raise Invalid(f"{name} {_short(found)} {problem} (the id rule)")
    return found


def choice(value: dict, name: str, allowed: tuple[str, ...]) -> str:
    found = value.get(name)
    if found not in allowed:
        raise Invalid(f"{name} must be one of {', '.join(allowed)}, got {_short(found)}")
    return found


def optional_choice(value: dict, name: str, allowed: tuple[str, ...]) -> str | None:
    found = value.get(name)
    if found is not None and found not in allowed:
        raise Invalid(f"{name} must be one of {', '.join(allowed)} or null, got {_short(found)}")
    return found


def timestamp(found: object, now: datetime | None) -> datetime:
    """ISO-8601 as UTC without a zone; a time without an offset is UTC already."""
    if not isinstance(found, str):
        raise Invalid(f"ts must be an ISO-8601 string, got {_short(found)}")
    try:
        ts = datetime.fromisoformat(found)
    except ValueError:
        raise Invalid(f"ts {_short(found)} is not ISO-8601") from None
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    latest = (now or datetime.now(UTC).replace(tzinfo=None)) + timedelta(days=1)
    if not EARLIEST <= ts <= latest:
        raise Invalid(f"ts {found} is out of range ({EARLIEST.date()} to a day from now)")
    return ts


def items(found: object) -> tuple[str, ...]:
    if not isinstance(found, list):
        raise Invalid(f"items must be a list of item ids, got {_short(found)}")
    if len(found) > MAX_ITEMS:
        raise Invalid(f"items holds {len(found)} ids, more than {MAX_ITEMS}")
    for rank, item in enumerate(found, 1):
        problem = contract.id_problem(item) if isinstance(item, str) else "must be a string"
        if problem:
            raise Invalid(f"items[{rank - 1}] {_short(item)} {problem} (the id rule)")
    return tuple(found)


def _short(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."
