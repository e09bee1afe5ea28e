"""Commands over the serving table: versions, rollback, show-user."""

from __future__ import annotations

import argparse
import json

import contract
from pipeline.cli import common, ids, local_aws

EXAMPLES = {
    "versions": "recs versions --config sample_data/retail.toml",
    "rollback": "recs rollback --to 20261122T021500Z-3f9a1c",
    "show-user": "recs show-user 18227 --k 5",
}


def _table_client(args: argparse.Namespace):
    from pipeline import aws

    settings = common.settings(args)
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
    from pipeline.cli.catalog import with_names
    from pipeline.publish.versions import show_user

    client, table = _table_client(args)
    answer = show_user(client, table, args.user_id, args.k, args.segment)
    common.print_json(with_names(answer, common.settings(args).warehouse))  # names from the catalog
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    versions = sub.add_parser("versions", help="published model versions, their metrics and row counts")
    common.add_config(versions)
    common.add_json(versions, "one JSON line per version")
    local_aws.add_flag(versions)
    versions.set_defaults(func=local_aws.honoured(cmd_versions))

    back = sub.add_parser("rollback", help="serve an earlier published version again")
    back.add_argument("--to", metavar="VERSION", help="default: the version served before the current one")
    common.add_config(back)
    local_aws.add_flag(back)
    back.set_defaults(func=local_aws.honoured(cmd_rollback))

    show = sub.add_parser("show-user", help="print what the API answers for a user")
    show.add_argument("user_id", type=ids.user_id, help="the user id, as the API takes it (the same id rule)")
    show.add_argument("--k", type=ids.k, help=f"how many items, 1 to {contract.MAX_K} (default: all stored)")
    show.add_argument(
        "--segment", type=ids.segment, help="for a user the model does not know: this segment's popular list"
    )
    common.add_config(show)
    local_aws.add_flag(show)
    show.set_defaults(func=local_aws.honoured(cmd_show_user))
