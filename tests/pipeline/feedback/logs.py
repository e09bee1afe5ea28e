"""Impression records in the serving side's shape, and the objects they reach the bucket in:
CloudWatch Logs subscription envelopes, gzipped and concatenated by Firehose, or JSON lines."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


def record(n: int, user: str | None = "u1", items=("i1", "i2", "i3"), minutes: float = 0, **fields) -> dict:
    """Impression ``r{n}``: a personal answer of version v1 to ``user`` at T0 + ``minutes``."""
    ts = (T0 + timedelta(minutes=minutes)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "rec_id": f"r{n}",
        "ts": ts,
        "route": "user",
        "user_id": user,
        "item_id": None,
        "version": "v1",
        "experiment": None,
        "arm": None,
        "source": "personal",
        "items": list(items) if isinstance(items, tuple | list) else items,
    } | fields


def envelope(messages: list, message_type: str = "DATA_MESSAGE") -> dict:
    """A subscription envelope; each message is a record (dict, written as JSON text) or a raw line."""
    events = [
        {"id": str(k), "timestamp": 1765130400000 + k, "message": m if isinstance(m, str) else json.dumps(m)}
        for k, m in enumerate(messages)
    ]
    return {
        "messageType": message_type,
        "owner": "123",
        "logGroup": "/aws/lambda/recs-api",
        "logStream": "2026/12/07/[$LATEST]abc",
        "subscriptionFilters": ["impressions"],
        "logEvents": events,
    }


def firehose_object(*deliveries: list[dict]) -> bytes:
    """What Firehose writes: one gzip member per delivery, each holding envelopes back to back."""
    return b"".join(gzip.compress("".join(json.dumps(e) for e in envs).encode()) for envs in deliveries)


def json_lines(records: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def put(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
