"""What a nightly run keeps between runs, for a job whose container starts empty every night.

When ``warehouse`` is ``s3://bucket/key``, the DuckDB file lives in S3 as snapshots, named by
a small pointer object that is switched last:

    s3://bucket/key.pointer.json                  {"snapshot": "...", "size_bytes": ..., "saved_at": ...}
    s3://bucket/key.snapshots/<time>-<token>.duckdb  the warehouse file as one run left it

A run restores the snapshot the pointer names into a local working copy, works on it as on
any local file, and after it ends without error uploads the file as a NEW snapshot and then
rewrites the pointer. A run that dies before the pointer is rewritten leaves the previous
good state named, so the next run re-ingests the same new files into it (ingest is
idempotent by its manifest): nothing lost, nothing doubled. After the switch every other
snapshot is tagged ``recs-state=superseded``; the bucket's lifecycle rule expires those a
week later, which leaves a week of earlier states for a manual rollback and lets the job's
role delete nothing.

DuckDB's own S3 access (the httpfs extension) is not used: it downloads at first use, which
a locked-down container cannot. A local ``warehouse`` path is used in place, as before.

``shared_state`` wraps the nightly flow: the DynamoDB lock (pipeline/ops/lock.py), then the
restore, the run on the local copy, the save.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

from pipeline import aws, storage
from pipeline.errors import PipelineError
from pipeline.ops import lock
from pipeline.publish import dynamo
from pipeline.settings import PipelineSettings, load_settings
from pipeline.storage import S3Path

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

# the tag of every snapshot the pointer no longer names; the bucket's lifecycle rule
# (infra/template.yaml) expires them after a week, so the job itself deletes nothing
STATE_TAG = "recs-state"
LOCAL_NAME = "warehouse.duckdb"


class StateError(PipelineError):
    """The warehouse state could not be restored or saved; the stored state is as it was."""


@dataclass(frozen=True)
class Snapshot:
    """The pointer object's content: which snapshot is the warehouse now."""

    snapshot: str  # the key of the snapshot object, in the pointer's bucket
    size_bytes: int
    saved_at: str


def pointer_of(remote: S3Path) -> S3Path:
    return replace(remote, key=f"{remote.key}.pointer.json")


def snapshots_of(remote: S3Path) -> S3Path:
    return replace(remote, key=f"{remote.key}.snapshots")


def current(remote: S3Path) -> Snapshot | None:
    """The snapshot the pointer names, or None before the first save."""
    try:
        return Snapshot(**json.loads(storage.read_bytes(pointer_of(remote))))
    except FileNotFoundError:
        return None


def restore(remote: S3Path, local: Path) -> Snapshot | None:
    """Download the current snapshot to ``local`` (nothing there before the first save)."""
    found = current(remote)
    if found is None:
        log.info("no warehouse state at %s yet: this run starts an empty warehouse", remote)
        return None
    started = time.perf_counter()
    storage.download(replace(remote, key=found.snapshot), local)
    if local.stat().st_size != found.size_bytes:
        raise StateError(
            f"warehouse snapshot s3://{remote.bucket}/{found.snapshot} has {local.stat().st_size} bytes, "
            f"its pointer says {found.size_bytes}: restore a good snapshot from {snapshots_of(remote)}"
        )
    log.info("restored from %s (%d bytes, %.1fs)", found.snapshot, local.stat().st_size, _since(started))
    return found


def save(local: Path, remote: S3Path, restored: Snapshot | None) -> Snapshot:
    """Upload ``local`` as a new snapshot, then switch the pointer to it, then drop old snapshots.

    Refused (``StateError``) when the pointer moved since ``restored``: another run saved meanwhile."""
    if current(remote) != restored:
        raise StateError(
            f"the warehouse state at {remote} changed during this run (another run saved it); "
            "this run's copy was not saved"
        )
    started = time.perf_counter()
    now = datetime.now(UTC)
    name = f"{now:%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}.duckdb"
    target = snapshots_of(remote) / name
    storage.upload(local, target)
    saved = Snapshot(target.key, local.stat().st_size, now.isoformat(timespec="seconds"))
    storage.write_bytes(pointer_of(remote), json.dumps(asdict(saved)).encode())  # the switch
    log.info("warehouse saved to %s (%d bytes, %.1fs)", target, saved.size_bytes, _since(started))
    _supersede(remote, keep=target.name)
    return saved


def _supersede(remote: S3Path, keep: str) -> None:
    """Tag every snapshot but ``keep`` superseded (an earlier run's, or one a dying run left unnamed)."""
    for name in storage.list_files(snapshots_of(remote)):
        old = snapshots_of(remote) / name
        if name != keep and storage.tags(old).get(STATE_TAG) != "superseded":
            storage.set_tags(old, {STATE_TAG: "superseded"})


def _since(started: float) -> float:
    return time.perf_counter() - started


@dataclass(frozen=True)
class WorkingCopy:
    """The warehouse a run works on: ``settings`` name it as ``path``; ``save`` puts it back."""

    settings: PipelineSettings
    path: Path
    save: Callable[[], None]


@contextlib.contextmanager
def restored(settings: PipelineSettings) -> Iterator[WorkingCopy]:
    """A local working copy of ``settings``' warehouse, and the function that saves it back.

    A local warehouse is used in place (saving does nothing); an S3 one is restored into a
    temporary folder, removed when the block ends."""
    remote = settings.warehouse
    if not isinstance(remote, S3Path):
        yield WorkingCopy(settings, remote, lambda: None)
        return
    if not remote.key:
        raise StateError(
            f"warehouse {remote} names a bucket only: give it a key, s3://bucket/state/warehouse.duckdb"
        )
    with tempfile.TemporaryDirectory(prefix="recs-state-") as tmp:
        local = Path(tmp) / LOCAL_NAME
        try:
            snapshot = restore(remote, local)
        except Exception as err:
            raise StateError(f"stage restore-state: cannot restore the warehouse {remote}: {err}") from err

        def save_back() -> None:
            try:
                save(local, remote, snapshot)
            except StateError:
                raise
            except Exception as err:
                raise StateError(
                    f"stage save-state: cannot save the warehouse to {remote}: {err}; the stored state is "
                    "the previous run's, and the next run ingests this run's new files again"
                ) from err

        yield WorkingCopy(settings.model_copy(update={"warehouse": local}), local, save_back)


def preflight(settings: PipelineSettings) -> None:
    """Before a run starts: the credentials work, the table is there (or is made) and the S3 buckets
    of ``warehouse`` and ``artifacts_dir`` answer. Raises boto3's error, or a named one."""
    dynamo.check_table(aws.client("dynamodb", settings), settings.table_name, create=settings.create_table)
    for loc in (settings.warehouse, settings.artifacts_dir):
        storage.check_reachable(loc)


def shared_state(fn: Callable[P, R]) -> Callable[P, R]:
    """Run the nightly ``fn`` holding the DynamoDB lock, on a local copy of the warehouse restored
    from S3, and save the copy back after ``fn`` returns (not when it raises).

    ``fn`` takes ``settings`` (or ``config``) as keyword arguments; it gets the local copy's settings."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = signature.bind(*args, **kwargs)
        settings = bound.arguments.get("settings") or load_settings(bound.arguments.get("config"))
        client = aws.client("dynamodb", settings)
        dynamo.check_table(client, settings.table_name, create=settings.create_table)
        with (
            lock.held(client, settings.table_name, settings.lock_lease_seconds) as holding,
            restored(settings) as copy,
        ):
            bound.arguments["settings"] = copy.settings
            result = fn(*bound.args, **bound.kwargs)
            holding.check()
            copy.save()
            return result

    return run
