"""A file loaded before whose bytes changed: never silent (issue #12, item 12).

``on_changed_file`` decides: ``fail`` (the default) fails the call naming the file; ``append``
loads the rows added at the end of a CSV or JSON-lines file whose old bytes are an exact
prefix of the new ones (a log that grows), and fails for any other change. The prefix is
proven, not assumed: the sha256 of the file's first ``size_bytes`` bytes must be the checksum
the manifest recorded for it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from pipeline.data.sources import SourceFile
from pipeline.errors import IngestError

OnChangedFile = Literal["fail", "append"]
APPENDABLE = (".csv", ".jsonl", ".ndjson")  # text with one row per line: growing keeps the old rows


@dataclass(frozen=True)
class Loaded:
    """A file's manifest entry, and the last row of it that was read (loaded or quarantined)."""

    name: str
    file_id: int
    size: int
    checksum: str
    last_row: int
    loaded_at: object


def loaded_entry(con: duckdb.DuckDBPyConnection, name: str) -> Loaded | None:
    row = con.execute(
        """SELECT file_id, size_bytes, checksum, loaded_at, greatest(
               (SELECT coalesce(max(source_row), 0) FROM raw_events r WHERE r.file_id = m.file_id),
               (SELECT coalesce(max(source_row), 0) FROM quarantine q WHERE q.source_file = m.path))
           FROM manifest m WHERE path = ?""",
        [name],
    ).fetchone()
    if row is None:
        return None
    file_id, size, checksum, loaded_at, last_row = row
    return Loaded(name, file_id, size, checksum, last_row, loaded_at)


def prefix_sha256(path: Path, size: int) -> str:
    digest, left = hashlib.sha256(), size
    with path.open("rb") as f:
        while left > 0 and (chunk := f.read(min(1 << 20, left))):
            digest.update(chunk)
            left -= len(chunk)
    return "sha256:" + digest.hexdigest()


def grew_by_appending(source: SourceFile, seen: Loaded) -> bool:
    """Whether ``source`` is its loaded bytes with more bytes after them (local text files only)."""
    path = Path(source.name)
    return (
        not source.name.startswith("s3://")  # an ETag is no digest of a prefix
        and path.suffix.lower() in APPENDABLE
        and source.size > seen.size
        and seen.checksum.startswith("sha256:")
        and prefix_sha256(path, seen.size) == seen.checksum
    )


def refuse_change(source: SourceFile, seen: Loaded, on_changed_file: OnChangedFile) -> IngestError:
    how = (
        "not by rows added at its end of a CSV or JSON-lines file"
        if on_changed_file == "append"
        else "and on_changed_file is 'fail'"
    )
    return IngestError(
        f"{source.name}: changed since it was loaded at {seen.loaded_at} ({seen.size} -> {source.size} "
        f"bytes, other content) {how}; a loaded file must keep its rows: restore it, give new rows a "
        f"new file name, or set on_changed_file = 'append' for logs that only grow"
    )
