"""Retries, timeouts and failures of the nightly run's stages.

Only I/O stages (S3, DynamoDB) retry, with exponential backoff, and only on transient errors
(``pipeline.aws.is_transient``); every stage has a timeout; a stage that gives up names itself
in an ERROR log line and in the ``nightly-failure`` Markdown artifact.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from pipeline.aws import is_transient

log = logging.getLogger(__name__)

IO_TIMEOUT_SECONDS = 3600.0  # ingest, reading the served version, publishing
COMPUTE_TIMEOUT_SECONDS = 4 * 3600.0  # training, evaluation, top-k for every user
RETRIES = 3
BACKOFF_FACTOR = 2.0  # retry delays 2 s, 4 s, 8 s (prefect.tasks.exponential_backoff), with jitter
FAILURE_ARTIFACT = "nightly-failure"


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


task_defaults: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    "log_prints": True,
    "timeout_seconds": COMPUTE_TIMEOUT_SECONDS,
    "on_failure": [report_failed_stage],
}
# only I/O stages (S3, DynamoDB) retry, with exponential backoff, and only on transient errors
network_task = task_defaults | {
    "timeout_seconds": IO_TIMEOUT_SECONDS,
    "retries": RETRIES,
    "retry_delay_seconds": exponential_backoff(BACKOFF_FACTOR),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_if_transient,
}
