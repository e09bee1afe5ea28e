"""A stage that gives up says so once, in the run's log and in the ``nightly-failure`` artifact, with
the number of attempts it made (``pipeline.ops.retries.report_failed_stage``)."""

from __future__ import annotations

import time

from prefect import flow, task

from pipeline.ops import retries

ATTEMPTS = 2


@task(
    name="flaky_io",
    retries=ATTEMPTS - 1,
    retry_delay_seconds=0,
    retry_condition_fn=retries.retry_if_transient,
    on_failure=[retries.report_failed_stage],
)
def flaky_io() -> None:
    raise ConnectionResetError("connection reset by peer (injected)")


@flow(name="stage-failure-test")
def one_failing_stage() -> None:
    flaky_io()


def run_logs(flow_run_id, wanted: str, ceiling: float = 60.0) -> list[str]:
    """The messages of a flow run's logs, once one contains ``wanted`` (logs reach the API in batches)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + ceiling
    with get_client(sync_client=True) as client:
        while True:
            logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            messages = [entry.message for entry in logs]
            if any(wanted in m for m in messages) or time.monotonic() > deadline:
                return messages
            time.sleep(0.5)


def test_a_stage_that_gives_up_names_itself_and_its_attempts_in_the_log_and_artifact(prefect_harness):
    from tests.integration.test_operations import failure_artifact

    state = one_failing_stage(return_state=True)
    assert state.is_failed()
    line = (
        f"stage flaky_io gave up after {ATTEMPTS} attempt(s): ConnectionResetError: connection reset by peer"
    )
    messages = run_logs(state.state_details.flow_run_id, "gave up after")
    assert [m for m in messages if m.startswith("stage flaky_io gave up")] == [line + " (injected)"]
    report = failure_artifact(state.state_details.flow_run_id, wait=60.0)
    assert report is not None
    assert f"- stage: `flaky_io`\n- attempts: {ATTEMPTS}\n" in report
