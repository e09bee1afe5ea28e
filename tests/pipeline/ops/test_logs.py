"""The commands' log lines: named by their task run, routine completions left out, -v and -q."""

from __future__ import annotations

import logging

import pytest
from prefect import flow, task

from pipeline.ops import logs

module_log = logging.getLogger("pipeline.model.train")


@task
def fit_model() -> int:
    module_log.info("training ALS on the CPU")  # a module logger that knows nothing of Prefect
    return 1


@task
def broken() -> None:
    raise ValueError("bad input")


@flow
def nightly_like(fail: bool = False) -> int:
    if fail:
        broken()
    return fit_model()


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.mark.usefixtures("prefect_harness", "restore_logging")
def test_default_lines_name_their_task_and_leave_out_routine_completions(capsys):
    logs.configure(0)
    nightly_like()
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if "training ALS on the CPU" in line)
    assert "[fit_model-" in line  # the task run's name, on a line from a plain module logger
    assert not any(
        "Finished in state Completed()" in line and "[fit_model-" in line for line in err.splitlines()
    )


@pytest.mark.usefixtures("prefect_harness", "restore_logging")
def test_a_failed_task_still_logs_its_state(capsys):
    logs.configure(0)
    with pytest.raises(ValueError, match="bad input"):
        nightly_like(fail=True)
    err = capsys.readouterr().err
    assert any("[broken-" in line and "Failed" in line for line in err.splitlines())


@pytest.mark.usefixtures("prefect_harness", "restore_logging")
def test_verbose_shows_completions_and_quiet_shows_only_warnings(capsys):
    logs.configure(1)
    nightly_like()
    err = capsys.readouterr().err
    assert any("[fit_model-" in line and "Finished in state Completed()" in line for line in err.splitlines())
    logs.configure(-1)
    nightly_like()
    err = capsys.readouterr().err
    assert "training ALS" not in err and "Finished in state" not in err


def test_the_cli_takes_v_and_q_before_or_after_the_command():
    from pipeline.cli import parser

    assert parser().parse_args(["-v", "versions"]).verbose == 1
    assert parser().parse_args(["versions", "-vv"]).verbose == 2
    assert parser().parse_args(["versions", "-q"]).quiet is True
    assert parser().parse_args(["versions"]).verbose == 0 and parser().parse_args(["versions"]).quiet is False
