"""The ``recs`` command line: each subcommand is a plain function over parsed arguments."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

# commands of the development tooling (infra/local, benchmarks): they need the "local" extra
LOCAL_COMMANDS = {"api", "demo", "replay", "bench", "generate", "package-lambda"}
SCALES = ["tiny", "small", "medium", "large"]

# one example per command, shown at the end of `recs COMMAND --help`
EXAMPLES = {
    "run": "recs run --events sample_data/events --config sample_data/retail.toml --local-aws",
    "ingest": "recs ingest logs/2026-12-01.parquet --map user_id=CustomerID --map item_id=StockCode",
    "api": "RECS_TABLE_NAME=recs recs api --port 8000",
    "demo": "recs demo",
    "versions": "recs versions --config sample_data/retail.toml",
    "evaluate": "recs evaluate --events my_events.parquet --split random-per-user --json",
    "rollback": "recs rollback --to 20261122T021500Z-3f9a1c",
    "show-user": "recs show-user 18227 --k 5",
    "schedule": "recs schedule --events 'incoming/{run_date}' --config settings.toml --start-server",
    "replay": "recs replay --days sample_data/events",
    "package-lambda": "recs package-lambda --out dist/lambda_api.zip",
    "bench": "recs bench --scale medium --only train topk --json",
    "generate": "recs generate --scale tiny --out var/synthetic",
    "recommend": "recs recommend 18227 12347 --config sample_data/retail.toml --k 5",
    "config": "RECS_ALS__FACTORS=128 recs config show --config sample_data/retail.toml",
}


def _print_json(payload: dict) -> None:
    print(json.dumps(payload, default=str))


def _settings(args: argparse.Namespace, **overrides):
    """The settings of ``--config`` (and the environment), with ``--map`` added to the column map."""
    from pipeline.data.ingest import parse_column_map
    from pipeline.settings import load_settings

    mapped = parse_column_map(getattr(args, "map", []))
    if mapped:
        overrides["column_map"] = load_settings(args.config, **overrides).column_map | mapped
    return load_settings(args.config, **overrides)  # validates the map


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.flow import nightly

    settings = _settings(args)
    if not args.local_aws:
        summary = nightly(events=args.events, settings=settings, force=args.force)
    else:
        from infra.local.aws import LocalAWS, environment

        with LocalAWS() as aws, environment(aws.environment()):  # restored after: callers may go on
            settings = settings.model_copy(update={"aws_endpoint_url": aws.endpoint_url})
            summary = nightly(events=args.events, settings=settings, force=args.force)
    if args.json:
        _print_json(summary.as_dict())
    else:
        state = "published" if summary.published else "NOT published"
        print(f"model {summary.model_version} {state}: {summary.reason}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from pipeline import aws
    from pipeline.data import warehouse
    from pipeline.data.ingest import ingest

    settings = _settings(args, warehouse=args.db, max_bad_fraction=args.max_bad_fraction)
    with warehouse.connect(settings.warehouse) as con:
        report = ingest(
            con,
            args.paths,
            settings.column_map,
            list(settings.event_weights),
            settings.max_bad_fraction,
            s3_client=lambda: aws.client("s3", settings),
            on_changed_file=settings.on_changed_file,
        )
    summary = report.as_dict()
    if args.json:
        _print_json(summary)
    else:
        print(", ".join(f"{k}: {v}" for k, v in summary.items()))
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run("lambda_api.app:app", host=args.host, port=args.port)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from infra.local.demo import run_demo

    run_demo(Path(args.workdir))
    return 0


def _table_client(args: argparse.Namespace):
    from pipeline import aws

    settings = _settings(args)
    return aws.client("dynamodb", settings), settings.table_name


def cmd_versions(args: argparse.Namespace) -> int:
    from pipeline.publish.versions import list_versions

    client, table = _table_client(args)
    found = list_versions(client, table)
    for info in found:
        print(json.dumps(info.as_dict()) if args.json else info.line())
    if not found and not args.json:
        print(f"no versions in table {table}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from pipeline.publish.versions import rollback

    client, table = _table_client(args)
    done = rollback(client, table, args.to)
    print(f"table {done.table}: now serving {done.to_version} (was {done.from_version})")
    return 0


def cmd_show_user(args: argparse.Namespace) -> int:
    from pipeline.publish.versions import show_user

    client, table = _table_client(args)
    _print_json(show_user(client, table, args.user_id, args.k))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import tempfile

    from pipeline.data import interactions, splits, warehouse
    from pipeline.data.ingest import ingest
    from pipeline.data.splits import SplitKind
    from pipeline.model import evaluate, report, tune

    settings = _settings(args)
    trials = {"max_trials": args.trials} if args.trials else {}
    budget = settings.tuning.model_copy(update={"seed": args.seed} | trials)
    split: SplitKind = args.split or ("time" if args.holdout_days else settings.holdout_split)
    days = args.holdout_days or settings.holdout_days
    with tempfile.TemporaryDirectory() as tmp, warehouse.connect(Path(tmp) / "events.duckdb") as con:
        ingest(con, args.events, settings.column_map, list(settings.event_weights), settings.max_bad_fraction)
        rules = interactions.InteractionRules.from_settings(settings)
        holdout = splits.holdout(con, rules, split, days, args.test_fraction, args.seed)
        segments = interactions.user_segments(con, settings.segment_column, holdout.train.user_ids)
        evaluation, tuned = tune.tuned_evaluation(
            holdout, budget, args.k, settings.als, (), segments, settings.use_gpu
        )
    print(f"{split} split, {len(holdout.test_users)} test users; tuned in {len(tuned.trials)} trials")
    print(report.markdown_table(report.metric_rows(evaluation)))
    print(report.markdown_table(report.slice_rows(evaluation)))
    if args.json:
        _print_json(evaluate.as_summary(evaluation, tuned.best.model_dump()))
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from pipeline.model import artifact, lookup

    settings = _settings(args)
    names = lookup.item_names(Path(args.names) if args.names else settings.item_names)
    version = lookup.pick_version(settings.artifacts_dir, args.model_version)
    model = artifact.load(settings.artifacts_dir, version)
    for lists in lookup.recommend(model, args.users, args.k, settings.warehouse):
        print(
            json.dumps(lists.as_dict() | {"model_version": version})
            if args.json
            else lookup.render(lists, names, version)
        )
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from pipeline.settings import settings_origins, shown

    values = shown(_settings(args))
    origins = settings_origins(args.config)
    named = {name: {"value": value, "origin": _origin(name, origins)} for name, value in values.items()}
    if args.json:
        _print_json(named)
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


def cmd_replay(args: argparse.Namespace) -> int:
    from infra.local.replay import run_replay

    run_replay(args.events, args.days, args.config, Path(args.workdir), args.port, serve=not args.no_serve)
    return 0


def cmd_package_lambda(args: argparse.Namespace) -> int:
    from infra.package import main_report

    return main_report(args.out, args.with_boto3)


def cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks import run as bench

    result = bench.run(args.scale, args.only)
    print(bench.table(result))
    print(f"figures: {bench.save(result)}; history: docs/benchmarks.md")
    if args.json:
        _print_json(result)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from infra.local.synthetic import SCALES, write_daily

    sizes = {"events": args.events, "users": args.users, "items": args.items, "seed": args.seed}
    spec = replace(SCALES[args.scale], **{k: v for k, v in sizes.items() if v is not None})
    files = write_daily(spec, Path(args.out))
    print(f"{spec.events} events, {spec.users} users, {spec.items} items: {len(files)} files in {args.out}")
    return 0


def _config(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", help="TOML settings file")


def _json(command: argparse.ArgumentParser, help: str = "end with one JSON line") -> None:
    command.add_argument("--json", action="store_true", help=help)


def _map(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=SOURCE",
        help="read event column COLUMN from the file's SOURCE column, or from 'sql:EXPRESSION'",
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="recs", description=__doc__)
    root.add_argument("--version", action="version", version=f"recs {_package_version()}")
    _verbosity(root, default=0)
    sub = root.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the nightly flow once")
    run.add_argument("--events", nargs="+", required=True, help="event files or directories")
    _config(run)
    _map(run)
    run.add_argument("--local-aws", action="store_true", help="start and stop a local moto server")
    run.add_argument("--force", action="store_true", help="publish even if the quality gate refuses")
    _json(run, "end with one JSON summary line")
    run.set_defaults(func=cmd_run)

    ing = sub.add_parser("ingest", help="append event files to the warehouse")
    ing.add_argument("paths", nargs="+", help="event files, directories, globs or s3:// prefixes")
    ing.add_argument("--db", help="warehouse file (default from settings)")
    _config(ing)
    _map(ing)
    ing.add_argument("--max-bad-fraction", type=float, help="fail a file with more bad rows than this")
    _json(ing)
    ing.set_defaults(func=cmd_ingest)

    api = sub.add_parser("api", help="serve the API on 127.0.0.1 with uvicorn")
    api.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    api.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    api.set_defaults(func=cmd_api)

    demo = sub.add_parser("demo", help="the whole product once, on the bundled data and a local AWS")
    demo.add_argument(
        "--workdir", default="var/demo", help="where the demo keeps its files (default: var/demo)"
    )
    demo.set_defaults(func=cmd_demo)

    versions = sub.add_parser("versions", help="published model versions, their metrics and row counts")
    _config(versions)
    _json(versions, "one JSON line per version")
    versions.set_defaults(func=cmd_versions)

    ev = sub.add_parser("evaluate", help="tune and measure ALS vs baselines on any event log")
    ev.add_argument("--events", nargs="+", required=True, help="event files or directories")
    ev.add_argument("--split", choices=["random-per-user", "time"], help="default: settings.holdout_split")
    held = ev.add_mutually_exclusive_group()
    held.add_argument("--test-fraction", type=float, default=0.2, help="random split: share held out")
    held.add_argument("--holdout-days", type=int, help="time split: the last D days are held out")
    ev.add_argument("--k", type=int, default=10, help="list length the metrics are taken at")
    ev.add_argument("--seed", type=int, default=42, help="seed of the split and of the search")
    ev.add_argument("--trials", type=int, help="tuning budget in trials (default from settings)")
    _config(ev)
    _map(ev)
    _json(ev, "end with one JSON object")
    ev.set_defaults(func=cmd_evaluate)

    back = sub.add_parser("rollback", help="serve an earlier published version again")
    back.add_argument("--to", metavar="VERSION", help="default: the version served before the current one")
    _config(back)
    back.set_defaults(func=cmd_rollback)

    show = sub.add_parser("show-user", help="print what the API answers for a user")
    show.add_argument("user_id", help="the user id, as the API takes it")
    show.add_argument("--k", type=int, help="how many items (default: all stored)")
    _config(show)
    show.set_defaults(func=cmd_show_user)

    sched = sub.add_parser("schedule", help="serve the nightly flow as a Prefect deployment on a cron")
    sched.add_argument("--events", nargs="+", required=True, help="event paths; '{run_date}' is filled in")
    _config(sched)
    sched.add_argument("--cron", default="0 2 * * *", help="cron expression (default: 02:00 every day)")
    sched.add_argument("--timezone", default="UTC", help="IANA timezone of the cron (default: UTC)")
    sched.add_argument("--start-server", action="store_true", help="run a local Prefect server meanwhile")
    sched.add_argument("--port", type=int, default=4200, help="port of --start-server's Prefect server")
    sched.set_defaults(func=cmd_schedule)

    rep = sub.add_parser("replay", help="local AWS + the template's stack + the flow + the API, until Ctrl-C")
    source = rep.add_mutually_exclusive_group()
    source.add_argument("--events", nargs="+", help="event files or directories (default: the sample)")
    source.add_argument("--days", help="a directory of daily files: one nightly run per file, in order")
    _config(rep)
    rep.add_argument("--workdir", default="var/replay", help="where the replay keeps its files")
    rep.add_argument("--port", type=int, default=8000, help="the API's port on 127.0.0.1")
    rep.add_argument("--no-serve", action="store_true", help="stop after the runs instead of serving the API")
    rep.set_defaults(func=cmd_replay)

    pkg = sub.add_parser("package-lambda", help="build the API's Lambda zip (manylinux x86_64, Python 3.12)")
    pkg.add_argument("--out", default="dist/lambda_api.zip", help="the zip to write")
    pkg.add_argument("--with-boto3", action="store_true", help="bundle boto3 (the runtime ships one)")
    pkg.set_defaults(func=cmd_package_lambda)

    bench = sub.add_parser("bench", help="the nightly job on synthetic data, next to the bare libraries")
    bench.add_argument(
        "--scale", default="small", choices=SCALES, help="synthetic data size (default: small)"
    )
    bench.add_argument("--only", nargs="+", metavar="GROUP", help="data train topk evaluate publish api")
    _json(bench, "end with one JSON line: the figures")
    bench.set_defaults(func=cmd_bench)

    gen = sub.add_parser("generate", help="write a synthetic event log (one Parquet file per day)")
    gen.add_argument("--scale", default="small", choices=SCALES, help="preset sizes (default: small)")
    gen.add_argument("--events", type=int, help="number of events (default: the scale's)")
    gen.add_argument("--users", type=int, help="number of users (default: the scale's)")
    gen.add_argument("--items", type=int, help="number of items (default: the scale's)")
    gen.add_argument("--seed", type=int, help="random seed (default: the scale's)")
    gen.add_argument("--out", default="var/synthetic", help="output directory (default: var/synthetic)")
    gen.set_defaults(func=cmd_generate)

    rec = sub.add_parser("recommend", help="print a model's lists for users, from its artifact (no AWS)")
    rec.add_argument("users", nargs="+", metavar="USER", help="user ids")
    rec.add_argument(
        "--version", dest="model_version", help="model version (default: the newest that passed)"
    )
    rec.add_argument("--k", type=int, default=10, help="how many items per user (default: 10)")
    rec.add_argument("--names", help="CSV of item_id,name (default: the settings' item_names)")
    _config(rec)
    _json(rec, "one JSON line per user")
    rec.set_defaults(func=cmd_recommend)

    conf = sub.add_parser("config", help="the effective settings and where each value comes from")
    conf.add_argument("action", choices=["show"], help="show: print every setting")
    _config(conf)
    _json(conf, "one JSON object: {name: {value, origin}}")
    conf.set_defaults(func=cmd_config)

    _add_examples(sub)
    return root


def _add_examples(sub: argparse._SubParsersAction) -> None:
    """Every command's help ends with an example (EXAMPLES; a test holds that none is missing)."""
    for name, command in sub.choices.items():
        _verbosity(command, default=argparse.SUPPRESS)  # `recs run -v` as well as `recs -v run`
        if name in EXAMPLES:
            command.epilog = "example:\n  " + EXAMPLES[name]
            command.formatter_class = argparse.RawDescriptionHelpFormatter


def _verbosity(command: argparse.ArgumentParser, default) -> None:
    command.add_argument("-v", "--verbose", action="count", default=default, help="more detail (-vv: all)")
    command.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="only warnings and errors",
    )


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("recs")
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    # without a Prefect server configured, a run starts a temporary one; its first start creates
    # the database, which can take longer than Prefect's 20 s default on a small, busy machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    args = parser().parse_args(argv)
    from pipeline.ops import logs

    logs.configure(-1 if args.quiet else args.verbose)
    from pydantic import ValidationError

    from pipeline.errors import PipelineError

    try:
        return args.func(args)
    except ModuleNotFoundError as err:  # an extra this command needs is not installed
        extra = "local" if args.command in LOCAL_COMMANDS else "batch"
        print(
            f"recs {args.command}: error: {err.name} is not installed; this command needs the "
            f"{extra!r} extra: pip install 'recs[{extra}]'",
            file=sys.stderr,
        )
        return 1
    except (PipelineError, FileNotFoundError, ValidationError, ValueError) as err:
        print(f"recs {args.command}: error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `recs ... | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
