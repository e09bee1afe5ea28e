"""The operational rules of the nightly run, kept out of the flow so that it reads as the pipeline:

- one nightly run at a time (a Prefect global concurrency limit, ``SLOT_NAME``, one slot);
- which failures are worth a retry (network and throttling errors, not broken contracts);
- a failed stage names itself (an ERROR log line and the ``nightly-failure`` Markdown artifact);
- what a re-run or an empty day does: a model of the same data and parameters as the one being
  served is neither trained again (``on_empty_day = "skip"``) nor published twice, unless forced;
- which files a run reads: ``{run_date}`` in an event path becomes the run's date.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import typing
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from pipeline.errors import PipelineError

log = logging.getLogger(__name__)

SLOT_NAME = "recs-nightly"
SLOT_WAIT_SECONDS = 5.0  # a second run waits this long for the first, then fails with RunInProgressError
IO_TIMEOUT_SECONDS = 3600.0  # ingest, reading the served version, publishing
COMPUTE_TIMEOUT_SECONDS = 4 * 3600.0  # training, evaluation, top-k for every user
RETRIES = 3
BACKOFF_FACTOR = 2.0  # retry delays 2 s, 4 s, 8 s (prefect.tasks.exponential_backoff), with jitter
FAILURE_ARTIFACT = "nightly-failure"


class RunInProgressError(PipelineError):
    """Another nightly run holds the one slot; this run did nothing."""


# --- one run at a time ----------------------------------------------------------------------------


def ensure_slot(name: str = SLOT_NAME) -> None:
    """Create the one-slot global concurrency limit if the Prefect API does not have it yet."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.upsert_global_concurrency_limit_by_name(name, limit=1)


def one_run_at_a_time(fn):
    """Run ``fn`` holding the ``SLOT_NAME`` slot; a second caller waits ``SLOT_WAIT_SECONDS``, then fails.

    The slot is leased and renewed while the run lives, so a killed process frees it when its lease ends.
    """
    from prefect.concurrency.sync import concurrency

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        ensure_slot()
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(
                    concurrency(
                        SLOT_NAME,
                        occupy=1,
                        timeout_seconds=SLOT_WAIT_SECONDS,
                        strict=True,
                        # a missed lease renewal (a busy API) must not kill a long training run
                        raise_on_lease_renewal_failure=False,
                    )
                )
            except TimeoutError:
                raise RunInProgressError(
                    f"another nightly run holds the '{SLOT_NAME}' concurrency slot (limit 1); this run "
                    f"waited {SLOT_WAIT_SECONDS:.0f}s and did nothing"
                ) from None
            return fn(*args, **kwargs)

    # Prefect validates parameters from the signature: give it ``fn``'s, with its annotations resolved
    guarded.__signature__ = inspect.signature(fn, eval_str=True)
    guarded.__annotations__ = typing.get_type_hints(fn)
    return guarded


# --- retries and failures ------------------------------------------------------------------------

THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "SlowDown",
    "InternalServerError",
    "ServiceUnavailable",
    "InternalError",
}


def is_transient(err: BaseException | None) -> bool:
    """A network, timeout or throttling error anywhere in ``err``'s chain: worth another attempt."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, (ConnectionError, HTTPClientError, OSError)) and not isinstance(
            err, FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError
        ):
            return True
        if isinstance(err, ClientError):
            error = err.response.get("Error", {})
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return error.get("Code") in THROTTLING or status >= 500
        err = err.__cause__ or (None if err.__suppress_context__ else err.__context__)
    return False


def retry_if_transient(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry I/O stages on transient errors only."""
    err = state.result(raise_on_failure=False)
    transient = is_transient(err if isinstance(err, BaseException) else None)
    if not transient:
        log.info("%s: %s is not transient, no retry", task.name, type(err).__name__)
    return transient


def report_failed_stage(task, task_run, state) -> None:
    """Task ``on_failure`` hook (after the last attempt): name the stage that gave up, in the run's log
    and in the ``nightly-failure`` artifact."""
    from prefect.artifacts import create_markdown_artifact
    from prefect.logging import get_run_logger

    err = state.result(raise_on_failure=False)
    cause = f"{type(err).__name__}: {err}" if isinstance(err, BaseException) else str(state.message)
    attempts = task_run.run_count
    line = f"stage {task.name} gave up after {attempts} attempt(s): {cause}"
    try:
        get_run_logger().error(line)
    except Exception:  # no run context: the module logger still says it
        log.error(line)
    create_markdown_artifact(
        key=FAILURE_ARTIFACT,
        markdown=f"# nightly run failed\n\n- stage: `{task.name}`\n- attempts: {attempts}\n- error: {cause}",
        description=f"nightly failed at stage {task.name}",
    )


# --- re-runs and empty days -----------------------------------------------------------------------


@dataclass(frozen=True)
class RunPlan:
    """What this run does, decided before any training."""

    train: bool
    publish: bool
    reason: str
    served_version: str | None = None


def served_version(client, table: str) -> str | None:
    """The version the table's pointer names, or None (no table or nothing published yet)."""
    from botocore.exceptions import ClientError

    from lambda_api import contract

    try:
        item = client.get_item(TableName=table, Key=contract.POINTER_KEY, ConsistentRead=True).get("Item")
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise
    return contract.decode_pointer(item).version if item else None


def served_model(artifacts_dir: Path, version: str | None) -> dict | None:
    """The ``meta.json`` of the served version's artifact, or None if there is none here."""
    if version is None:
        return None
    path = Path(artifacts_dir) / version / "meta.json"
    return json.loads(path.read_text()) if path.exists() else None


def plan_run(
    new_files: int,
    fingerprint: str,
    params: dict,
    served_version: str | None,
    served: dict | None,
    on_empty_day: str,
    force: bool,
) -> RunPlan:
    """Train and publish, unless the served model was made from the same data and parameters.

    ``on_empty_day = "retrain"`` still trains and measures such a model (a fresh report), but it is
    not published a second time; ``force`` trains and publishes whatever happens.
    """
    if force:
        return RunPlan(True, True, "forced: train and publish", served_version)
    if served_version is None:
        return RunPlan(True, True, "no version is served yet", None)
    if served is None:
        reason = f"served version {served_version} has no artifact here to compare with"
        return RunPlan(True, True, reason, served_version)
    same_data = served.get("data_fingerprint") == fingerprint
    same_params = served.get("configured_params", served.get("params")) == params  # before tuning
    if not (same_data and same_params):
        changed = " and ".join(n for n, same in (("data", same_data), ("params", same_params)) if not same)
        return RunPlan(True, True, f"{changed} changed since served version {served_version}", served_version)
    why = "no new event files (empty day)" if new_files == 0 else "the new files changed no interaction"
    identical = (
        f"{why}: data fingerprint {fingerprint} and parameters are those of served version "
        f"{served_version}; keep serving it (force to publish anyway)"
    )
    return RunPlan(on_empty_day == "retrain", False, identical, served_version)


def resolve_events(events: list[str], run_date: str | None, scheduled: datetime | None = None) -> list[str]:
    """Fill ``{run_date}`` (YYYY-MM-DD) in event paths: the given date, else the day before the
    scheduled start (a 02:00 run reads the day that just ended), else yesterday."""
    if not any("{run_date}" in e for e in events):
        return list(events)
    if run_date is None:
        day = (scheduled.date() if scheduled else date.today()) - timedelta(days=1)
    else:
        try:
            day = date.fromisoformat(run_date)
        except ValueError:
            raise PipelineError(f"run_date must be a date as YYYY-MM-DD, got {run_date!r}") from None
    return [e.replace("{run_date}", day.isoformat()) for e in events]
