"""``recs experiment``: start, read and stop an experiment between two published versions."""

from __future__ import annotations

import argparse

from pipeline.cli import common

EXAMPLES = {
    "experiment": "recs experiment start --control 20261122T021500Z-3f9a1c "
    "--treatment 20261123T021500Z-8b2e44 --share 0.2 --name tuned-als",
}


def _table_client(args: argparse.Namespace):
    from pipeline import aws

    settings = common.settings(args)
    return aws.client("dynamodb", settings), settings.table_name


def cmd_start(args: argparse.Namespace) -> int:
    from pipeline.publish import experiments

    client, table = _table_client(args)
    started = experiments.start(
        client, table, args.control, args.treatment, args.share, args.name, args.hours
    )
    print(
        f"table {table}: experiment {started.name} running: control {started.control}, "
        f"treatment {started.treatment} for {started.share:.0%} of users"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from pipeline.publish import experiments

    client, table = _table_client(args)
    state = experiments.status(client, table)
    if args.json:
        common.print_json(state.as_dict())
    else:
        print(state.line())
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from pipeline.publish import experiments

    client, table = _table_client(args)
    done = experiments.stop(client, table, args.promote, args.name)
    promoted = f"promoted {done.experiment.promoted}" if done.experiment.promoted else "nothing promoted"
    print(f"table {table}: experiment {done.experiment.name} stopped ({promoted}); serving {done.serving}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from pipeline import aws
    from pipeline.data import warehouse
    from pipeline.feedback.impressions import ensure_schema, ingest_impressions
    from pipeline.ops import canary

    client, table = _table_client(args)
    settings = common.settings(args)
    with warehouse.connect(settings.warehouse) as con:
        ensure_schema(con)
        if settings.impressions_uri:  # the newest impressions first: the decision reads them
            ingest_impressions(con, [settings.impressions_uri], lambda: aws.client("s3", settings))
        found = canary.check(client, table, con, settings)
    if args.json:
        common.print_json(found.as_dict())
    else:
        print(found.line(table))
    return 0


def _share(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"share must be a number strictly between 0 and 1, got {value!r}"
        ) from None


def register(sub: argparse._SubParsersAction) -> None:
    experiment = sub.add_parser("experiment", help="A/B experiments between published versions")
    commands = experiment.add_subparsers(dest="experiment_command", required=True, help="what to do")

    start = commands.add_parser("start", help="serve a treatment version to a share of users")
    start.add_argument("--control", required=True, metavar="VERSION", help="a published version")
    start.add_argument("--treatment", required=True, metavar="VERSION", help="a published version")
    start.add_argument(
        "--share", required=True, type=_share, help="the treatment's share of users, in (0, 1)"
    )
    start.add_argument("--name", help="default: experiment-<UTC time>; never reused")
    start.add_argument("--hours", type=float, help="when it is due to end (default: when stopped)")
    common.add_config(start)
    start.set_defaults(func=cmd_start)

    status = commands.add_parser("status", help="the running (or last) experiment and the served version")
    common.add_config(status)
    common.add_json(status, "one JSON object")
    status.set_defaults(func=cmd_status)

    stop = commands.add_parser("stop", help="end the running experiment")
    stop.add_argument(
        "--promote", choices=("control", "treatment"), help="serve that arm's version to everyone"
    )
    stop.add_argument("--name", help="stop only if this is the experiment running")
    common.add_config(stop)
    stop.set_defaults(func=cmd_stop)

    check = commands.add_parser(
        "check", help="judge the running canary on its users: promote, roll back, or leave it running"
    )
    common.add_config(check)
    common.add_json(check, "one JSON object: the canary, the decision and its figures, the served version")
    check.set_defaults(func=cmd_check)
