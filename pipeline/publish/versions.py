"""Operating published versions: list them, roll back, and look at an answer as the API gives it.

Plain functions over a DynamoDB client and a table name; ``recs versions``, ``recs
rollback`` and ``recs show-user`` (pipeline/cli/serving.py) print what they return.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import contract
from pipeline.errors import PipelineError, PublishError
from pipeline.publish import experiments, registry
from pipeline.publish.dynamo import check_table, missing_rows
from pipeline.publish.expiry import MIN_ROLLBACK_HOURS


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

    @classmethod
    def of(cls, entry: contract.VersionEntry, serving: str | None) -> VersionInfo:
        return cls(
            version=entry.version,
            status=entry.status,
            serving=entry.version == serving,
            rows=entry.rows,
            rows_done=entry.rows_done,
            k=entry.k,
            created_at=entry.created_at,
            published_at=entry.published_at,
            expires_at=entry.expires_at,
            metrics=entry.metrics,
        )

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        """One line of ``recs versions``: * marks the version being served."""
        expires = time.strftime("%Y-%m-%d %H:%M", time.gmtime(self.expires_at))
        return (
            f"{'*' if self.serving else ' '} {self.version}  {self.status:<9}  "
            f"rows {self.rows_done}/{self.rows}  k {self.k}  {self.headline()}  expires {expires} UTC"
        )

    def headline(self) -> str:
        """``ndcg@K value`` of the model at its evaluation's headline k (``ndcg@10`` when stored, else
        the smallest k), or ``ndcg -`` for a version published without metrics."""
        model = self.metrics.get("model", {})
        ks = sorted(int(key[5:]) for key in model if key.startswith("ndcg@") and key[5:].isdigit())
        if not ks:
            return "ndcg -"
        k = 10 if 10 in ks else ks[0]
        return f"ndcg@{k} {float(model[f'ndcg@{k}']):.4f}"


@dataclass(frozen=True)
class Rollback:
    table: str
    from_version: str
    to_version: str


def list_versions(client, table: str) -> list[VersionInfo]:
    """Every version in the table's registry, newest first, with its metrics and row counts."""
    check_table(client, table)
    pointer = registry.current_pointer(client, table)
    serving = pointer.version if pointer else None
    return [VersionInfo.of(entry, serving) for entry in registry.list_registry(client, table)]


def rollback(client, table: str, to: str | None = None, now: float | None = None) -> Rollback:
    """Flip the pointer back to ``to`` (default: the version served before the current one).

    The target must be a published version kept by retention whose rows have not expired,
    and its sampled rows are read back first: a rollback never points readers at nothing.
    """
    check_table(client, table)
    pointer = registry.current_pointer(client, table)
    if pointer is None:
        raise RollbackError(f"no version is published in table {table}: nothing to roll back")
    target = to or pointer.previous
    if target is None:
        raise RollbackError(
            f"version {pointer.version} of table {table} has no previous version to go back to"
        )
    entry = _rollback_target(client, table, target, pointer.version, time.time() if now is None else now)
    experiments.guard_pointer_change(client, table, f"rollback to {target}")
    missing = missing_rows(client, table, target, list(entry.check_keys))
    if missing:
        raise RollbackError(
            f"version {target} of table {table} has lost rows (e.g. {missing[:3]}); pointer not touched"
        )
    try:
        registry.flip_pointer(client, table, target, entry.k)
    except PublishError as err:
        raise RollbackError(str(err)) from err
    return Rollback(table, pointer.version, target)


def _rollback_target(client, table: str, version: str, serving: str, now: float) -> contract.VersionEntry:
    """The registry entry of a version the pointer may go back to; otherwise why not."""
    if version == serving:
        raise RollbackError(f"version {version} is already served from table {table}")
    entry = registry.registry_entry(client, table, version)
    if entry is None:
        raise RollbackError(f"version {version} was never published to table {table}")
    if entry.status == "writing":
        raise RollbackError(f"version {version} of table {table} was never completely written")
    if entry.status == "retired":
        raise RollbackError(
            f"version {version} of table {table} is retired (beyond keep_versions); its rows expire by TTL"
        )
    if entry.expires_at <= now + MIN_ROLLBACK_HOURS * 3600:
        expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(entry.expires_at))
        raise RollbackError(
            f"the rows of version {version} in table {table} expire at {expires}, less than "
            f"{MIN_ROLLBACK_HOURS} hours from now: readers would lose them; publish a new version instead"
        )
    return entry


def show_user(client, table: str, user_id: str, k: int | None = None, segment: str | None = None) -> dict:
    """What the API answers for ``user_id``: the user's row under the served version, else the
    popular list the contract's fallback order gives (consistent reads, no cache)."""
    problem = contract.id_problem(user_id)
    if problem:
        raise PipelineError(f"user id {user_id!r} {problem}: the API would refuse it")
    check_table(client, table)
    pointer = registry.current_pointer(client, table)
    if pointer is None:
        raise PipelineError(f"no model version is published in table {table}")
    candidates = [(contract.user_pk(user_id), "personal", None)] + [
        (contract.popular_pk(s), "fallback", s) for s in contract.fallback_segments(segment)
    ]
    for pk, source, named in candidates:
        key = contract.row_key(pk, pointer.version)
        item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        if item:
            ranked = contract.decode_row(item)
            n = k or len(ranked.item_ids)
            return {
                "user_id": user_id,
                "model_version": pointer.version,
                "source": source,
                "segment": named,
                "items": [
                    {"item_id": i, "score": s}
                    for i, s in zip(ranked.item_ids[:n], ranked.scores[:n], strict=True)
                ],
            }
    raise PipelineError(f"model version {pointer.version} has no popular list in table {table}")
