"""Commands over the catalog and intraday availability: catalog, availability."""

from __future__ import annotations

import argparse

from pipeline.cli import common

EXAMPLES = {
    "availability": "recs availability set --unavailable 85123A 22423 --config sample_data/retail.toml",
    "catalog": "recs catalog sample_data/items.csv --map name=Description --config sample_data/retail.toml",
}


def cmd_catalog(args: argparse.Namespace) -> int:
    from pipeline import aws
    from pipeline.data import warehouse
    from pipeline.data.catalog import load_catalog
    from pipeline.data.ingest import parse_column_map

    settings = common.settings(argparse.Namespace(config=args.config), warehouse=args.db)
    column_map = settings.catalog_column_map | parse_column_map(args.map)
    with warehouse.connect(settings.warehouse) as con:
        report = load_catalog(
            con,
            args.paths,
            column_map,
            args.max_bad_fraction if args.max_bad_fraction is not None else settings.max_bad_fraction,
            s3_client=lambda: aws.client("s3", settings),
        )
    summary = report.as_dict()
    if args.json:
        common.print_json(summary)
    else:
        print(", ".join(f"{k}: {v}" for k, v in summary.items()))
    return 0


def cmd_availability(args: argparse.Namespace) -> int:
    from pipeline import aws
    from pipeline.publish.availability import ids_from_file, read_availability, set_availability

    settings = common.settings(argparse.Namespace(config=args.config))
    client = aws.client("dynamodb", settings)
    if args.action == "show":
        found = read_availability(client, settings.table_name)
    else:
        down = list(args.unavailable) + (ids_from_file(args.from_file) if args.from_file else [])
        found = set_availability(client, settings.table_name, down, args.available, replace=args.replace)
    common.print_json({"table": settings.table_name, "unavailable": sorted(found.unavailable)})
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    cat = sub.add_parser("catalog", help="load item files (id, name, category, ...) into the warehouse")
    cat.add_argument("paths", nargs="+", help="catalog files, directories, globs or s3:// prefixes")
    cat.add_argument("--db", help="warehouse file (default from settings)")
    common.add_config(cat)
    cat.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=SOURCE",
        help="read catalog column COLUMN (item_id, name, category, price, available, created_at) from the "
        "file's SOURCE column, or from 'sql:EXPRESSION'",
    )
    cat.add_argument("--max-bad-fraction", type=float, help="fail a file with more bad rows than this")
    common.add_json(cat)
    cat.set_defaults(func=cmd_catalog)

    avail = sub.add_parser(
        "availability", help="mark items unavailable (or available) now, without a publish"
    )
    avail.add_argument("action", choices=["set", "show"], help="set: change the set; show: print it")
    avail.add_argument("--unavailable", nargs="+", default=[], metavar="ITEM", help="items not to recommend")
    avail.add_argument("--available", nargs="+", default=[], metavar="ITEM", help="items to recommend again")
    avail.add_argument("--from", dest="from_file", help="a file of item ids to mark unavailable, one a line")
    avail.add_argument("--replace", action="store_true", help="start from nothing unavailable")
    common.add_config(avail)
    avail.set_defaults(func=cmd_availability)
