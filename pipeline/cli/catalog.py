"""Commands over the catalog, intraday availability and the lists: catalog, availability, export."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli import common

EXAMPLES = {
    "export": "recs export --out s3://crm-bucket/recs/today.parquet --config sample_data/retail.toml",
    "availability": "recs availability set --unavailable 85123A 22423 --config sample_data/retail.toml",
    "catalog": "recs catalog sample_data/items.csv --map name=Description --config sample_data/retail.toml",
}


def with_names(answer: dict, warehouse_path: Path) -> dict:
    """``answer`` (``show_user``'s) with each item's catalog name and category, when the warehouse
    holds a catalog."""
    from pipeline.data import catalog, warehouse

    if not warehouse_path.exists():
        return answer
    with warehouse.connect(warehouse_path, read_only=True) as con:
        about = {i.item_id: i for i in catalog.current_items(con)}
    for item in answer["items"]:
        entry = about.get(item["item_id"])
        item["name"], item["category"] = (entry.name, entry.category) if entry else (None, None)
    return answer


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
    common.print_summary(report.as_dict(), args.json)
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


def cmd_export(args: argparse.Namespace) -> int:
    from pipeline import aws
    from pipeline.data import catalog, warehouse
    from pipeline.errors import PipelineError
    from pipeline.model import artifact
    from pipeline.ops.export import ExportFormat, export_version
    from pipeline.publish import registry

    settings = common.settings(argparse.Namespace(config=args.config))
    client = aws.client("dynamodb", settings)
    version = args.model_version
    if version is None:
        pointer = registry.current_pointer(client, settings.table_name)
        if pointer is None:
            raise PipelineError(f"no model version is published in table {settings.table_name}")
        version = pointer.version
    user_ids, _ = artifact.load_ids(settings.artifacts_dir, version)
    items = []
    if settings.warehouse.exists():
        with warehouse.connect(settings.warehouse, read_only=True) as con:
            items = catalog.current_items(con)
    fmt: ExportFormat = args.format or ("csv" if args.out.lower().endswith(".csv") else "parquet")
    report = export_version(
        client,
        settings.table_name,
        version,
        user_ids,
        items,
        args.out,
        fmt,
        lambda: aws.client("s3", settings),
    )
    common.print_json(report.as_dict())
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

    export = sub.add_parser("export", help="write every user's list of a version to a file (Parquet or CSV)")
    export.add_argument("--version", dest="model_version", help="a kept version (default: the served one)")
    export.add_argument("--out", required=True, help="a local path or s3://bucket/key")
    export.add_argument(
        "--format", choices=["parquet", "csv"], help="default: from --out's suffix, else parquet"
    )
    common.add_config(export)
    export.set_defaults(func=cmd_export)
