"""``recs feedback``: what users did with the answers, per version, experiment arm and source."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from pipeline.cli import common

EXAMPLES = {
    "feedback": "recs feedback --since 2026-12-01 --impressions s3://my-stack-bucket/impressions/ --json",
}


def since(text: str) -> datetime:
    """``--since``: an ISO date or time; one with an offset is converted to UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date or time (e.g. 2026-12-01)") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def share(text: str) -> tuple[str, float]:
    """``--share EXPERIMENT=F``: an experiment's treatment share, for the sample-ratio check."""
    name, sep, value = text.rpartition("=")
    try:
        found = float(value)
    except ValueError:
        found = float("nan")
    if not sep or not name or not 0 < found < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected EXPERIMENT=SHARE with a share in (0, 1)")
    return name, found


def cmd_feedback(args: argparse.Namespace) -> int:
    from pipeline import aws
    from pipeline.data import warehouse
    from pipeline.feedback import online

    settings = common.settings(args, warehouse=args.db)
    with warehouse.connect(settings.warehouse, read_only=not args.impressions) as con:
        s3 = lambda: aws.client("s3", settings)  # noqa: E731
        if args.impressions:
            result = online.load_and_measure(
                con, settings, args.impressions, s3, args.since, dict(args.share)
            )
        else:
            online.require_impressions(con, settings.warehouse)
            result = online.measure(con, settings, args.since, dict(args.share))
    if args.json:
        common.print_json(result.as_dict())
        return 0
    print(online.text(result))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    fb = sub.add_parser("feedback", help="online metrics: the impression log joined with later events")
    fb.add_argument("--since", type=since, help="only answers from this date or time on (UTC; default: all)")
    fb.add_argument(
        "--impressions", nargs="+", metavar="URI", help="load these impression objects first (s3:// or paths)"
    )
    fb.add_argument(
        "--share", action="append", type=share, default=[], metavar="EXPERIMENT=F",
        help="an experiment's treatment share, for its sample-ratio check",
    )  # fmt: skip
    fb.add_argument("--db", help="warehouse file (default from settings)")
    common.add_config(fb)
    common.add_json(fb, "one JSON object: what loaded, the metrics per group, each experiment's report")
    fb.set_defaults(func=cmd_feedback)
