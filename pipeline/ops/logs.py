"""What the ``recs`` commands print while they work: one line per event, named by its task.

Every line carries the Prefect task run (or flow run) it came from, also for the pipeline's
own module loggers, which know nothing of Prefect: ``[fit_model-3f2] training ALS on the CPU``.
At the default level Prefect's ``Finished in state Completed()`` line of each task is left
out (the stage seconds summarise them; a failed or crashed task still logs), and chatty
libraries stay at warnings. ``-v`` shows everything, ``-q`` only warnings and errors.
"""

from __future__ import annotations

import logging
import sys

QUIET_LIBRARIES = ("httpx", "botocore", "urllib3", "numba", "matplotlib", "asyncio")
FORMAT = "%(asctime)s %(levelname)-7s %(run)s%(message)s"


class RunNameFormatter(logging.Formatter):
    """``FORMAT`` with ``%(run)s``: ``[task run] `` or ``[flow run] `` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        name = (
            getattr(record, "task_run_name", None)
            or _current_task_run()
            or getattr(record, "flow_run_name", None)
        )
        record.run = f"[{name}] " if name else f"[{record.name}] "
        return super().format(record)


def _current_task_run() -> str | None:
    if "prefect.context" not in sys.modules:  # nothing runs in Prefect: do not import it for a log line
        return None
    from prefect.context import TaskRunContext

    context = TaskRunContext.get()
    return context.task_run.name if context is not None else None


class RoutineCompletions(logging.Filter):
    """Drops a task's ``Finished in state Completed()`` line; keeps every other state."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name == "prefect.task_runs" and record.getMessage() == "Finished in state Completed()"
        )


class StderrHandler(logging.StreamHandler):
    """A handler on whatever ``sys.stderr`` is when a line is written (a test's capture, a
    redirected stream), not on the one of when it was made."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure(verbosity: int = 0) -> None:
    """The commands' logging: ``verbosity`` -1 (``-q``), 0 (default) or 1+ (``-v``). Replaces
    the handler of an earlier call, and leaves every other handler alone."""
    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 1 else logging.INFO
    handler = StderrHandler()
    handler.setFormatter(RunNameFormatter(FORMAT, datefmt="%H:%M:%S"))
    handler.setLevel(level)  # Prefect's loggers set their own levels and propagate here
    if verbosity <= 0:
        handler.addFilter(RoutineCompletions())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity > 1 else logging.WARNING)
