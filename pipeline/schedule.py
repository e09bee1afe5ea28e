"""``recs schedule``: the nightly flow as a Prefect deployment with a cron schedule, served from this process.

    recs schedule --events 'incoming/{run_date}' --config settings.toml --cron '0 2 * * *' --timezone UTC

The deployment's parameters are the flow's (``events``, ``config``, ``force``, ``run_date``); any of them can
be changed per run from the Prefect UI or ``prefect deployment run``. At most one run of the deployment is
active at a time (later ones queue), and the flow itself holds the ``recs-nightly`` concurrency slot, so
a run started by hand cannot overlap a scheduled one either.

Schedules only fire against a Prefect API that keeps running (``prefect server start``, or Prefect Cloud):
set ``PREFECT_API_URL``, or pass ``--start-server`` to run a local server for as long as this command does.
For a work pool (and a GPU worker for training), see ``prefect.yaml`` and docs/operations.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.errors import PipelineError
from pipeline.ops.children import answers

DEFAULT_CRON = "0 2 * * *"
DEFAULT_TIMEZONE = "UTC"


class ScheduleError(PipelineError):
    """The schedule cannot be made: the message names the value and the rule it broke."""


def cron_schedule(cron: str, timezone: str):
    """A Prefect cron schedule, after checking the expression and the timezone."""
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.schedules import Cron
    from pydantic import ValidationError

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"timezone {timezone!r} is not an IANA timezone such as 'UTC' or 'Europe/Paris'"
        ) from None
    try:
        CronSchedule(cron=cron, timezone=timezone)
    except ValidationError:
        raise ScheduleError(
            f"cron {cron!r} is not a valid cron expression (minute hour day-of-month month day-of-week)"
        ) from None
    return Cron(cron, timezone=timezone)


def nightly_deployment(
    events: list[str],
    config: str | None = None,
    cron: str = DEFAULT_CRON,
    timezone: str = DEFAULT_TIMEZONE,
    force: bool = False,
    name: str = "nightly",
):
    """The ``nightly`` flow as a deployment: the cron schedule, its parameters, one active run at a time."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    from pipeline.flow import nightly

    queue = ConcurrencyLimitStrategy.ENQUEUE  # a run due while one is active waits for it

    return nightly.to_deployment(
        name=name,
        schedules=[cron_schedule(cron, timezone)],
        parameters={"events": list(events), "config": config, "force": force},
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=queue),
        description=f"recs nightly: ingest, train, evaluate, publish ({cron}, {timezone})",
        tags=["recs"],
    )


@contextmanager
def local_prefect_server(port: int, startup_timeout: float = 180.0):
    """``prefect server start`` on 127.0.0.1:``port`` as a child process; yields its API URL."""
    api_url = f"http://127.0.0.1:{port}/api"
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not answers(f"{api_url}/health", process, startup_timeout, interval=0.5):
            raise ScheduleError(f"the Prefect server did not start on {api_url}")
        yield api_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve(deployment) -> None:
    """Serve the deployment from this process until interrupted (runs execute here, as subprocesses)."""
    from prefect import serve as prefect_serve

    prefect_serve(deployment)


def run_schedule(
    events: list[str],
    config: str | None,
    cron: str,
    timezone: str,
    start_server: bool = False,
    port: int = 4200,
) -> None:
    """Build the deployment and serve it, against ``PREFECT_API_URL`` or a local server started here."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    deployment = nightly_deployment(events, config, cron, timezone)
    if start_server:
        with local_prefect_server(port) as api_url, temporary_settings({PREFECT_API_URL: api_url}):
            os.environ["PREFECT_API_URL"] = api_url  # the runs the runner starts read it too
            ui = api_url.removesuffix("/api")
            print(f"Prefect server on {ui} (UI); serving 'nightly/nightly' ({cron}, {timezone})")
            serve(deployment)
        return
    if not PREFECT_API_URL.value():
        raise ScheduleError(
            "schedules only fire against a running Prefect API: run `prefect server start` and "
            "`prefect config set PREFECT_API_URL=http://127.0.0.1:4200/api` (or log in to Prefect Cloud), "
            "or pass --start-server"
        )
    print(f"serving 'nightly/nightly' ({cron}, {timezone}) against {PREFECT_API_URL.value()}")
    serve(deployment)
