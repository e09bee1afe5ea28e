"""``recs local-aws start | status | stop``: a local AWS (moto's server) that stays up between commands,
and ``--local-aws`` for the commands that use it (infra/local/server.py keeps the record)."""

from __future__ import annotations

import argparse
import contextlib
import functools
from collections.abc import Callable, Iterator

EXAMPLES = {"local-aws": "recs local-aws start && recs run --events sample_data/events --local-aws"}
STATUS_CODES = {"running": 0, "stopped": 3, "stale": 1}  # as `systemctl status`: 3 is "not running"


def cmd_local_aws(args: argparse.Namespace) -> int:
    from infra.local import server

    if args.action == "start":
        up, started = server.start()
        verb = "started" if started else "already running"
        print(f"local AWS {verb} at {up.endpoint_url} (pid {up.pid}); `recs local-aws stop` ends it")
        return 0
    if args.action == "stop":
        was, stopped = server.stop()
        if stopped is None:
            print("no local AWS was running")
        elif was == "stale":
            print(f"removed a stale record (pid {stopped.pid} at {stopped.endpoint_url} was not running)")
        else:
            print(f"local AWS at {stopped.endpoint_url} (pid {stopped.pid}) stopped")
        return 0
    state, record = server.status()
    if record is None:
        print(f"local AWS: {state}")
    else:
        print(f"local AWS: {state}, pid {record.pid} at {record.endpoint_url} since {record.started_at}")
    return STATUS_CODES[state]


@contextlib.contextmanager
def recorded(args: argparse.Namespace) -> Iterator[str | None]:
    """With ``--local-aws``: the recorded server's endpoint, with boto3's and the settings'
    environment pointed at it for the block; else None and nothing changed."""
    if not getattr(args, "local_aws", False):
        yield None
        return
    from infra.local import server
    from infra.local.aws import environment

    record = server.running()
    with environment(record.environment() | {"RECS_AWS_ENDPOINT_URL": record.endpoint_url}):
        yield record.endpoint_url


def is_running() -> bool:
    from infra.local import server

    return server.status()[0] == "running"


def honoured(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``command`` run inside ``recorded``: with ``--local-aws``, against the recorded local AWS."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        with recorded(args):
            return command(args)

    return run


def add_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--local-aws", action="store_true", help="use the local AWS of `recs local-aws start`"
    )


def register(sub: argparse._SubParsersAction) -> None:
    local = sub.add_parser("local-aws", help="start, check or stop a local AWS (moto) kept between commands")
    local.add_argument(
        "action", choices=["start", "status", "stop"], help="start it, say whether it runs, stop it"
    )
    local.set_defaults(func=cmd_local_aws)
