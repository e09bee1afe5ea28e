"""Operating published versions: list them, roll back, and look at an answer as the API gives it.

Plain functions over a DynamoDB client and a table name; ``recs versions``, ``recs
rollback`` and ``recs show-user`` (pipeline/cli.py) print what they return.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from lambda_api import contract
from pipeline import publish
from pipeline.errors import PipelineError


class RollbackError(PipelineError):
    """The pointer cannot be moved to the version asked for; it was not touched."""


@dataclass(frozen=True)
class VersionInfo:
    version: str
    status: str  # writing | published | retired
    serving: bool
    rows: int
    rows_done: int
    k: int
    created_at: float
    published_at: float | None
    expires_at: int
    metrics: dict

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        """One line of ``recs versions``: * marks the version being served."""
        ndcg = self.metrics.get("model", {}).get("ndcg")
        expires = time.strftime("%Y-%m-%d %H:%M", time.gmtime(self.expires_at))
        return (
            f"{'*' if self.serving else ' '} {self.version}  {self.status:<9}  "
            f"rows {self.rows_done}/{self.rows}  k {self.k}  ndcg {ndcg}  expires {expires} UTC"
        )


@dataclass(frozen=True)
class Rollback:
    table: str
    from_version: str
    to_version: str


def _info(entry: dict, serving: str | None) -> VersionInfo:
    return VersionInfo(
        version=entry["sk"]["S"],
        status=entry["status"]["S"],
        serving=entry["sk"]["S"] == serving,
        rows=int(entry["rows"]["N"]),
        rows_done=int(entry["rows_done"]["N"]),
        k=int(entry["k"]["N"]),
        created_at=float(entry["created_at"]["N"]),
        published_at=float(entry["published_at"]["N"]) if "published_at" in entry else None,
        expires_at=int(entry[contract.TTL_ATTRIBUTE]["N"]),
        metrics=json.loads(entry["metrics"]["S"]),
    )


def list_versions(client, table: str) -> list[VersionInfo]:
    """Every version in the table's registry, newest first, with its metrics and row counts."""
    publish.check_table(client, table)
    pointer = publish.current_pointer(client, table)
    return [_info(e, pointer.version if pointer else None) for e in publish.list_registry(client, table)]


def rollback(client, table: str, to: str | None = None, now: float | None = None) -> Rollback:
    """Flip the pointer back to ``to`` (default: the version served before the current one).

    The target must be a published version kept by retention whose rows have not expired,
    and its sampled rows are read back first: a rollback never points readers at nothing.
    """
    publish.check_table(client, table)
    pointer = publish.current_pointer(client, table)
    if pointer is None:
        raise RollbackError(f"no version is published in table {table}: nothing to roll back")
    target = to or pointer.previous
    if target is None:
        raise RollbackError(
            f"version {pointer.version} of table {table} has no previous version to go back to"
        )
    entry = _rollback_target(client, table, target, pointer.version, time.time() if now is None else now)
    missing = publish.missing_rows(client, table, target, json.loads(entry["check_keys"]["S"]))
    if missing:
        raise RollbackError(
            f"version {target} of table {table} has lost rows (e.g. {missing[:3]}); pointer not touched"
        )
    try:
        publish.flip_pointer(client, table, target, int(entry["k"]["N"]))
    except publish.PublishError as err:
        raise RollbackError(str(err)) from err
    return Rollback(table, pointer.version, target)


def _rollback_target(client, table: str, version: str, serving: str, now: float) -> dict:
    """The registry entry of a version the pointer may go back to; otherwise why not."""
    if version == serving:
        raise RollbackError(f"version {version} is already served from table {table}")
    entry = publish.registry_entry(client, table, version)
    if entry is None:
        raise RollbackError(f"version {version} was never published to table {table}")
    status = entry["status"]["S"]
    if status == "writing":
        raise RollbackError(f"version {version} of table {table} was never completely written")
    if status == "retired":
        raise RollbackError(
            f"version {version} of table {table} is retired (beyond keep_versions); its rows expire by TTL"
        )
    if int(entry[contract.TTL_ATTRIBUTE]["N"]) <= now:
        raise RollbackError(f"the rows of version {version} in table {table} have expired")
    return entry


def show_user(client, table: str, user_id: str, k: int | None = None) -> dict:
    """What the API answers for ``user_id``, read through the API's own store."""
    from lambda_api.store import RecommendationStore

    publish.check_table(client, table)
    found = RecommendationStore(client, table).for_user(user_id)
    n = k or len(found.ranked.item_ids)
    return {
        "user_id": user_id,
        "model_version": found.version,
        "source": found.source,
        "items": [
            {"item_id": i, "score": s}
            for i, s in zip(found.ranked.item_ids[:n], found.ranked.scores[:n], strict=True)
        ],
    }
