"""Commands of the development tooling (infra/local, benchmarks): they need the "local" extra."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli import common, local_aws

SCALES = ["tiny", "small", "medium", "large"]

EXAMPLES = {
    "api": "RECS_TABLE_NAME=recs recs api --port 8000",
    "demo": "recs demo",
    "replay": "recs replay --days sample_data/events",
    "package-lambda": "recs package-lambda --out dist/lambda_api.zip",
    "bench": "recs bench --scale medium --only train topk --json",
    "generate": "recs generate --scale tiny --out var/synthetic",
}


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run("lambda_api.app:app", host=args.host, port=args.port)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from infra.local.demo import run_demo

    run_demo(Path(args.workdir))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from infra.local.replay import run_replay

    if args.simulate is not None:
        return simulate(args)
    run_replay(args.events, args.days, args.config, Path(args.workdir), args.port, serve=not args.no_serve)
    return 0


def simulate(args: argparse.Namespace) -> int:
    """``recs replay --simulate DAYS``: simulated users on the local AWS (infra/local/simulate.py)."""
    from infra.local.simulate import Simulation, run_simulation

    sim = Simulation(args.simulate, args.scenario, args.users, seed=args.seed, share=args.share)
    result = run_simulation(sim, Path(args.workdir), print, args.config)
    print(result.text())
    if args.json:
        common.print_json(result.as_dict())
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
        common.print_json(result)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from infra.local.synthetic import SCALES, write_daily

    sizes = {"events": args.events, "users": args.users, "items": args.items, "seed": args.seed}
    spec = replace(SCALES[args.scale], **{k: v for k, v in sizes.items() if v is not None})
    files = write_daily(spec, Path(args.out))
    print(f"{spec.events} events, {spec.users} users, {spec.items} items: {len(files)} files in {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    api = sub.add_parser("api", help="serve the API on 127.0.0.1 with uvicorn")
    api.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    api.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    local_aws.add_flag(api)
    api.set_defaults(func=local_aws.honoured(cmd_api))

    demo = sub.add_parser("demo", help="the whole product once, on the bundled data and a local AWS")
    demo.add_argument(
        "--workdir", default="var/demo", help="where the demo keeps its files (default: var/demo)"
    )
    demo.set_defaults(func=cmd_demo)

    rep = sub.add_parser("replay", help="local AWS + the template's stack + the flow + the API, until Ctrl-C")
    source = rep.add_mutually_exclusive_group()
    source.add_argument("--events", nargs="+", help="event files or directories (default: the sample)")
    source.add_argument("--days", help="a directory of daily files: one nightly run per file, in order")
    source.add_argument(
        "--simulate",
        type=int,
        metavar="DAYS",
        help="simulated users ask the API, answer their lists and feed the nightly, for DAYS days",
    )
    rep.add_argument(
        "--scenario",
        default="experiment",
        choices=("experiment", "canary"),
        help="with --simulate: an A/B test of a weak and a good model, or a weak canary",
    )
    rep.add_argument("--users", type=int, default=1000, help="with --simulate: simulated users")
    rep.add_argument("--share", type=float, default=0.5, help="with --simulate: the treatment's share")
    rep.add_argument("--seed", type=int, default=0, help="with --simulate: the population's seed")
    common.add_json(rep, "with --simulate: end with one JSON line, the days and the verdict")
    common.add_config(rep)
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
    bench.add_argument(
        "--only",
        nargs="+",
        metavar="GROUP",
        help="data train topk evaluate publish api warm flow peer (peer only when named)",
    )
    common.add_json(bench, "end with one JSON line: the figures")
    bench.set_defaults(func=cmd_bench)

    gen = sub.add_parser("generate", help="write a synthetic event log (one Parquet file per day)")
    gen.add_argument("--scale", default="small", choices=SCALES, help="preset sizes (default: small)")
    gen.add_argument("--events", type=int, help="number of events (default: the scale's)")
    gen.add_argument("--users", type=int, help="number of users (default: the scale's)")
    gen.add_argument("--items", type=int, help="number of items (default: the scale's)")
    gen.add_argument("--seed", type=int, help="random seed (default: the scale's)")
    gen.add_argument("--out", default="var/synthetic", help="output directory (default: var/synthetic)")
    gen.set_defaults(func=cmd_generate)
