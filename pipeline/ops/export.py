"""Export: every user's list of a kept version, as a file for email and CRM tools.

``recs export [--version V] --out PATH_OR_S3 [--format parquet|csv]`` writes one row per
(user, rank): ``user_id, rank, item_id, score, name, category``. The users are those of the
version's artifact; their rows are read from the table 100 at a time (BatchGetItem) and written
in batches (pyarrow), so memory holds one batch and the catalog's names, not the whole version.
Items unavailable at export time (the catalog's flag and the intraday ``recs availability``) are
left out and the list filled to the version's ``k`` from the row's candidates, as the API does.
An ``s3://`` destination is written to a temporary file first, then uploaded.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

import contract
from pipeline.data.catalog import CatalogItem
from pipeline.errors import PipelineError
from pipeline.publish import registry
from pipeline.publish.dynamo import READ_BATCH_SIZE

ExportFormat = Literal["parquet", "csv"]
SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("rank", pa.int32()),
        ("item_id", pa.string()),
        ("score", pa.float32()),
        ("name", pa.string()),
        ("category", pa.string()),
    ]
)
USERS_PER_WRITE = 5000


@dataclass(frozen=True)
class ExportReport:
    version: str
    users: int
    rows: int
    short_lists: int  # users with fewer than k items left once unavailable items are out
    missing_users: int  # users of the artifact without a row in the table (expired, or never written)
    out: str

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def export_version(
    client,
    table: str,
    version: str,
    user_ids: np.ndarray,
    items: list[CatalogItem],
    out: str,
    fmt: ExportFormat,
    s3_client: Callable[[], Any] | None = None,
) -> ExportReport:
    """Write ``version``'s lists for ``user_ids`` to ``out`` (a local path or ``s3://bucket/key``)."""
    entry = registry.registry_entry(client, table, version)
    if entry is None:
        raise PipelineError(f"version {version} is not in table {table}'s registry: see `recs versions`")
    if entry.status == "writing" or entry.expires_at < time.time():
        raise PipelineError(
            f"version {version} is {entry.status} and expires at {entry.expires_at}: not kept"
        )
    intraday = contract.read_availability(
        lambda key: client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    )
    unavailable = {i.item_id for i in items if not i.available} | (
        intraday.unavailable if intraday else set()
    )
    about = {i.item_id: (i.name, i.category) for i in items}
    with tempfile.TemporaryDirectory(prefix="recs-export-") as tmp:
        local = Path(tmp) / f"export.{fmt}" if out.startswith("s3://") else Path(out)
        local.parent.mkdir(parents=True, exist_ok=True)
        counts = _write(_batches(client, table, version, user_ids, entry.k, unavailable, about), local, fmt)
        if out.startswith("s3://"):
            bucket, _, key = out.removeprefix("s3://").partition("/")
            if not bucket or not key:
                raise PipelineError(f"--out {out}: expected s3://bucket/key")
            (s3_client() if s3_client else _s3()).upload_file(str(local), bucket, key)
    users, rows, short = counts
    return ExportReport(version, users, rows, short, len(user_ids) - users, out)


def _batches(
    client, table: str, version: str, user_ids: np.ndarray, k: int, unavailable: set[str], about: dict
) -> Iterator[tuple[pa.RecordBatch, int, int]]:
    """(a record batch, users in it, short lists in it) for ``USERS_PER_WRITE`` users at a time."""
    for start in range(0, len(user_ids), USERS_PER_WRITE):
        columns: dict[str, list] = {name: [] for name in SCHEMA.names}
        users = short = 0
        for user_id, ranked in _rows(
            client, table, version, user_ids[start : start + USERS_PER_WRITE].tolist()
        ):
            kept = [
                (i, s) for i, s in zip(ranked.item_ids, ranked.scores, strict=True) if i not in unavailable
            ][:k]
            users += 1
            short += len(kept) < k
            for rank, (item_id, score) in enumerate(kept, 1):
                name, category = about.get(item_id, (None, None))
                for column, value in zip(
                    SCHEMA.names, (user_id, rank, item_id, score, name, category), strict=True
                ):
                    columns[column].append(value)
        yield pa.RecordBatch.from_pydict(columns, schema=SCHEMA), users, short


def _rows(client, table: str, version: str, users: list[str]) -> Iterator[tuple[str, contract.RankedItems]]:
    """Each user's row under ``version`` (users without one are left out), in the order given."""
    for start in range(0, len(users), READ_BATCH_SIZE):
        chunk = users[start : start + READ_BATCH_SIZE]
        request = {table: {"Keys": [contract.row_key(contract.user_pk(u), version) for u in chunk]}}
        found: dict[str, contract.RankedItems] = {}
        for attempt in range(10):
            response = client.batch_get_item(RequestItems=request)
            found.update((i["pk"]["S"], contract.decode_row(i)) for i in response["Responses"].get(table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(min(0.05 * 2**attempt, 2.0))
        else:
            raise PipelineError(f"table {table}: rows of version {version} stayed unprocessed after 10 tries")
        for user_id in chunk:
            if contract.user_pk(user_id) in found:
                yield user_id, found[contract.user_pk(user_id)]


def _write(
    batches: Iterator[tuple[pa.RecordBatch, int, int]], path: Path, fmt: ExportFormat
) -> tuple[int, int, int]:
    users = rows = short = 0
    writer: pq.ParquetWriter | pa_csv.CSVWriter
    writer = pq.ParquetWriter(path, SCHEMA) if fmt == "parquet" else pa_csv.CSVWriter(path, SCHEMA)
    with writer:
        for batch, n_users, n_short in batches:
            writer.write_batch(batch)
            users, rows, short = users + n_users, rows + batch.num_rows, short + n_short
    return users, rows, short


def _s3():
    import boto3

    return boto3.client("s3")
