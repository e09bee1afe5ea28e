"""What the commands share: loading settings with ``--map``, the common options, JSON output."""

from __future__ import annotations

import argparse
import json


def print_json(payload: dict) -> None:
    print(json.dumps(payload, default=str))


def print_summary(summary: dict, as_json: bool) -> None:
    """A load's report: one JSON object, or ``key: value`` pairs on one line."""
    if as_json:
        print_json(summary)
    else:
        print(", ".join(f"{k}: {v}" for k, v in summary.items()))


def settings(args: argparse.Namespace, **overrides):
    """The settings of ``--config`` (and the environment), with ``--map`` added to the column map."""
    from pipeline.data.ingest import parse_column_map
    from pipeline.settings import load_settings

    mapped = parse_column_map(getattr(args, "map", []))
    if mapped:
        overrides["column_map"] = load_settings(args.config, **overrides).column_map | mapped
    return load_settings(args.config, **overrides)  # validates the map


def add_config(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", help="TOML settings file")


def add_json(command: argparse.ArgumentParser, help: str = "end with one JSON line") -> None:
    command.add_argument("--json", action="store_true", help=help)


def add_map(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=SOURCE",
        help="read event column COLUMN from the file's SOURCE column, or from 'sql:EXPRESSION'",
    )
