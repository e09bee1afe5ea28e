"""Commands over the catalog and intraday availability: catalog, availability."""

from __future__ import annotations

import argparse

from pipeline.cli import common

EXAMPLES = {
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
