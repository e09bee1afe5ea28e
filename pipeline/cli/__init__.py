"""The ``recs`` command line: each subcommand is a plain function over parsed arguments.

A group of commands is a module here with its ``EXAMPLES`` and a ``register(sub)`` that adds
its parsers; this module assembles them and runs one, turning the pipeline's errors into one line.
"""

from __future__ import annotations

import argparse
import os
import sys

from pipeline.cli import catalog, experiment, feedback, job, local_aws, serving, tooling

GROUPS = (job, serving, tooling, local_aws, feedback, experiment, catalog)
# commands of the development tooling (infra/local, benchmarks): they need the "local" extra
LOCAL_COMMANDS = set(tooling.EXAMPLES) | set(local_aws.EXAMPLES)
# one example per command, shown at the end of `recs COMMAND --help`
EXAMPLES = {name: example for group in GROUPS for name, example in group.EXAMPLES.items()}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="recs", description=__doc__.split("\n\n")[0])
    root.add_argument("--version", action="version", version=f"recs {_package_version()}")
    _verbosity(root, default=0)
    sub = root.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
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
    except Exception as err:  # boto3's: no credentials, no endpoint, access denied, no table or bucket
        from pipeline.cli import aws_errors

        line = aws_errors.explain(err, aws_errors.where(args))
        if line is None:
            raise
        print(f"recs {args.command}: error: {line}", file=sys.stderr)
        return 1
