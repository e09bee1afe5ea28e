"""Commands of the nightly job and its stages: run, ingest, evaluate, recommend, config, schedule."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path

from pipeline.cli import common, local_aws

EXAMPLES = {
    "run": "recs run --events sample_data/events --config sample_data/retail.toml --local-aws",
    "ingest": "recs ingest logs/2026-12-01.parquet --map user_id=CustomerID --map item_id=StockCode",
    "evaluate": "recs evaluate --events my_events.parquet --split random-per-user --json",
    "recommend": "recs recommend 18227 12347 --config sample_data/retail.toml --k 5",
    "config": "RECS_ALS__FACTORS=128 recs config show --config sample_data/retail.toml",
    "schedule": "recs schedule --events 'incoming/{run_date}' --config settings.toml --start-server",
}


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.flow import nightly
    from pipeline.ops.state import preflight

    settings = common.settings(args)
    if not args.local_aws:
        preflight(settings)  # no credentials, table or bucket: one line, before the flow starts
        summary = nightly(events=args.events, settings=settings, force=args.force)
    elif local_aws.is_running():  # the local AWS of `recs local-aws start`: used, and left running
        with local_aws.recorded(args):
            summary = nightly(events=args.events, settings=common.settings(args), force=args.force)
    else:
        from infra.local.aws import LocalAWS, environment

        with LocalAWS() as aws, environment(aws.environment()):  # restored after: callers may go on
            settings = common.settings(args, aws_endpoint_url=aws.endpoint_url)
            summary = nightly(events=args.events, settings=settings, force=args.force)
    if args.json:
        common.print_json(summary.as_dict())
    else:
        state = "published" if summary.published else "NOT published"
        print(f"model {summary.model_version} {state}: {summary.reason}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from pipeline import aws
    from pipeline.data import warehouse
    from pipeline.data.ingest import ingest
    from pipeline.data.staging import LogShape

    settings = common.settings(args, warehouse=args.db, max_bad_fraction=args.max_bad_fraction)
    with warehouse.connect(settings.warehouse) as con:
        report = ingest(
            con,
            args.paths,
            settings.column_map,
            list(settings.all_event_weights()),
            settings.max_bad_fraction,
            s3_client=lambda: aws.client("s3", settings),
            on_changed_file=settings.on_changed_file,
            log_shape=LogShape.from_settings(settings),
        )
    common.print_summary(report.as_dict(), args.json)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import tempfile

    from pipeline.data import interactions, splits, validation, warehouse
    from pipeline.data.ingest import ingest
    from pipeline.data.splits import SplitKind
    from pipeline.data.staging import LogShape
    from pipeline.model import evaluate, report, tune

    settings = common.settings(args)
    trials = {"max_trials": args.trials} if args.trials else {}
    seed = {"seed": args.seed} if args.seed is not None else {}
    budget = settings.tuning.model_copy(update=seed | trials)
    split: SplitKind = args.split or ("time" if args.holdout_days else settings.holdout_split)
    days = args.holdout_days or settings.holdout_days
    k = args.k or settings.eval_k
    test_fraction = args.test_fraction or settings.test_fraction
    split_seed = settings.split_seed if args.seed is None else args.seed
    with tempfile.TemporaryDirectory() as tmp, warehouse.connect(Path(tmp) / "events.duckdb") as con:
        ingest(con, args.events, settings.column_map, list(settings.all_event_weights()),
               settings.max_bad_fraction, log_shape=LogShape.from_settings(settings))  # fmt: skip
        rules = interactions.InteractionRules.from_settings(settings)
        holdout = splits.holdout(con, rules, split, days, test_fraction, split_seed)
        segments = interactions.user_segments(con, settings.segment_column, holdout.train.user_ids)
        fold = validation.validation_fold(
            con, rules, split, holdout.train, days, budget.validation_fraction, budget.seed
        )  # the search's validation split: the same kind as the holdout
        again = validation.confirm_folds(split, holdout.train, budget)
        evaluation, tuned = tune.tuned_evaluation(
            holdout, budget, k, settings.als, tuple(settings.eval_ks), segments, settings.use_gpu, fold, again
        )
    print(f"{split} split, {len(holdout.test_users)} test users; tuned in {len(tuned.trials)} trials")
    print(report.markdown_table(report.metric_rows(evaluation)))
    print(report.markdown_table(report.slice_rows(evaluation)))
    if args.json:
        common.print_json(evaluate.as_summary(evaluation, tuned.best.model_dump()))
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from pipeline.model import artifact, lookup
    from pipeline.ops import state

    settings = common.settings(args)
    names = lookup.item_names(Path(args.names) if args.names else settings.item_names)
    version = lookup.pick_version(settings.artifacts_dir, args.model_version)
    model = artifact.load(settings.artifacts_dir, version)
    with state.restored(settings) as copy:  # a warehouse kept in S3: a local copy, for the history
        found = lookup.recommend(model, args.users, args.k, copy.path)
    for lists in found:
        print(
            json.dumps(lists.as_dict() | {"model_version": version})
            if args.json
            else lookup.render(lists, names, version)
        )
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from pipeline.settings import settings_origins, shown

    values = shown(common.settings(args))
    origins = settings_origins(args.config)
    named = {name: {"value": value, "origin": _origin(name, origins)} for name, value in values.items()}
    if args.json:
        common.print_json(named)
        return 0
    width = max(map(len, named))
    for name, entry in named.items():
        print(f"{name:<{width}}  {json.dumps(entry['value'], default=str):<50} {entry['origin']}")
    return 0


def _origin(name: str, origins: Mapping[str, str]) -> str:
    """A value's origin; a group's fields (``als.factors``) inherit the group's when set whole."""
    return origins.get(name) or origins.get(name.split(".")[0]) or "default"


def cmd_schedule(args: argparse.Namespace) -> int:
    from pipeline.schedule import run_schedule

    run_schedule(args.events, args.config, args.cron, args.timezone, args.start_server, args.port)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the nightly flow once")
    run.add_argument("--events", nargs="+", required=True, help="event files or directories")
    common.add_config(run)
    common.add_map(run)
    run.add_argument(
        "--local-aws",
        action="store_true",
        help="use the local AWS of `recs local-aws start`; without one, start and stop a moto server",
    )
    run.add_argument("--force", action="store_true", help="publish even if the quality gate refuses")
    common.add_json(run, "end with one JSON summary line")
    run.set_defaults(func=cmd_run)

    ing = sub.add_parser("ingest", help="append event files to the warehouse")
    ing.add_argument("paths", nargs="+", help="event files, directories, globs or s3:// prefixes")
    ing.add_argument("--db", help="warehouse file (default from settings)")
    common.add_config(ing)
    common.add_map(ing)
    ing.add_argument("--max-bad-fraction", type=float, help="fail a file with more bad rows than this")
    common.add_json(ing)
    ing.set_defaults(func=cmd_ingest)

    ev = sub.add_parser("evaluate", help="tune and measure ALS vs baselines on any event log")
    ev.add_argument("--events", nargs="+", required=True, help="event files or directories")
    ev.add_argument("--split", choices=["random-per-user", "time"], help="default: settings.holdout_split")
    held = ev.add_mutually_exclusive_group()
    held.add_argument(
        "--test-fraction", type=float, help="random split: share held out (settings.test_fraction)"
    )
    held.add_argument("--holdout-days", type=int, help="time split: the last D days are held out")
    ev.add_argument("--k", type=int, help="list length the metrics are taken at (default: settings.eval_k)")
    ev.add_argument(
        "--seed", type=int, help="seed of the split and of the search (default: split_seed, tuning.seed)"
    )
    ev.add_argument("--trials", type=int, help="tuning budget in trials (default from settings)")
    common.add_config(ev)
    common.add_map(ev)
    common.add_json(ev, "end with one JSON object")
    ev.set_defaults(func=cmd_evaluate)

    rec = sub.add_parser("recommend", help="print a model's lists for users, from its artifact (no AWS)")
    rec.add_argument("users", nargs="+", metavar="USER", help="user ids")
    rec.add_argument(
        "--version", dest="model_version", help="model version (default: the newest that passed)"
    )
    rec.add_argument("--k", type=int, default=10, help="how many items per user (default: 10)")
    rec.add_argument("--names", help="CSV of item_id,name (default: the settings' item_names)")
    common.add_config(rec)
    common.add_json(rec, "one JSON line per user")
    rec.set_defaults(func=cmd_recommend)

    conf = sub.add_parser("config", help="the effective settings and where each value comes from")
    conf.add_argument("action", choices=["show"], help="show: print every setting")
    common.add_config(conf)
    common.add_json(conf, "one JSON object: {name: {value, origin}}")
    conf.set_defaults(func=cmd_config)

    sched = sub.add_parser("schedule", help="serve the nightly flow as a Prefect deployment on a cron")
    sched.add_argument("--events", nargs="+", required=True, help="event paths; '{run_date}' is filled in")
    common.add_config(sched)
    sched.add_argument("--cron", default="0 2 * * *", help="cron expression (default: 02:00 every day)")
    sched.add_argument("--timezone", default="UTC", help="IANA timezone of the cron (default: UTC)")
    sched.add_argument("--start-server", action="store_true", help="run a local Prefect server meanwhile")
    sched.add_argument("--port", type=int, default=4200, help="port of --start-server's Prefect server")
    sched.set_defaults(func=cmd_schedule)
