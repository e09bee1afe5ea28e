"""``recs replay``: production, on a laptop.

Starts the local AWS (moto's server), creates the stack from ``infra/template.yaml`` in it (the same
template AWS gets), lands the event files in the stack's bucket under ``raw/``, runs the nightly flow
on ``s3://<bucket>/raw/`` against the table the stack made, and serves the API on 127.0.0.1 with
uvicorn until Ctrl-C, printing example ``curl`` commands and the OpenAPI docs URL.

    recs replay                                   # the bundled retail sample, one run
    recs replay --events PATH... [--config FILE]  # your event files, one run
    recs replay --days DIR [--config FILE]        # one nightly run per file of DIR, in name order

With ``--days`` every file of the directory is one day: the runs go in order against the same warehouse
and table, and a line per day shows what was loaded, which version is served after the run and its
holdout NDCG against the popularity baseline. Ctrl-C (or SIGTERM) stops everything the command started.
"""

from __future__ import annotations

import signal
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

from infra import stack
from infra.local import SAMPLE
from infra.local.aws import LocalAWS, environment
from infra.local.workdir import fresh_workdir
from pipeline import aws
from pipeline.data import warehouse
from pipeline.data.ingest import READERS
from pipeline.errors import PipelineError
from pipeline.ops import plan
from pipeline.settings import PipelineSettings, load_settings

RAW_PREFIX = "raw/"


class ReplayError(PipelineError):
    """The replay cannot start: the message names the input and what is wrong with it."""


@dataclass(frozen=True)
class DayResult:
    day: str
    rows_loaded: int | None
    served_version: str | None
    published: bool
    model_ndcg: float | None
    popular_ndcg: float | None
    reason: str

    def line(self) -> str:
        def score(value: float | None) -> str:
            return f"{value:.4f}" if value is not None else "   -  "

        state = "published" if self.published else "failed" if self.rows_loaded is None else "kept"
        loaded = "-" if self.rows_loaded is None else f"{self.rows_loaded:,}"
        return (
            f"{self.day:<28} {loaded:>9} {self.served_version or '-':<26} {state:<9} "
            f"{score(self.model_ndcg)} {score(self.popular_ndcg)}  {self.reason[:70]}"
        )


HEADER = f"{'day':<28} {'loaded':>9} {'served version':<26} {'run':<9} {'ndcg':<6} {'popular':<7} why"


def day_files(directory: Path) -> list[Path]:
    """The event files of ``directory`` (not recursive), in name order: one per day."""
    if not directory.is_dir():
        raise ReplayError(f"--days {directory}: not a directory")
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in READERS)
    if not files:
        raise ReplayError(f"--days {directory}: holds no {'/'.join(READERS)} files")
    return files


def replay_settings(
    config: str | Path | None, workdir: Path, endpoint_url: str, table_name: str
) -> PipelineSettings:
    """The run's settings, pointed at the local AWS and at the table the stack created (never created by
    the pipeline itself, as in AWS)."""
    return load_settings(
        config,
        warehouse=workdir / "warehouse.duckdb",
        artifacts_dir=workdir / "artifacts",
        aws_endpoint_url=endpoint_url,
        table_name=table_name,
        create_table=False,
    )


def day_result(day: str, summary, settings: PipelineSettings) -> DayResult:
    key = f"ndcg@{settings.eval_k}"
    metrics = summary.metrics or {}
    served = plan.served_version(aws.client("dynamodb", settings), settings.table_name)
    return DayResult(
        day,
        int(summary.ingest.get("rows_loaded", 0)),
        served,
        summary.published,
        metrics.get("model", {}).get(key),
        metrics.get("popular", {}).get(key),
        summary.reason,
    )


def event_files(sources: list[str]) -> list[Path]:
    """The event files named by ``sources`` (files, or directories searched recursively), in order."""
    found: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            found += sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in READERS)
        elif source.is_file():
            found.append(source)
        else:
            raise ReplayError(f"--events {source}: no such file or directory")
    if not found:
        raise ReplayError(f"--events {' '.join(sources)}: holds no {'/'.join(READERS)} files")
    return found


def land(files: list[Path], settings: PipelineSettings, bucket: str) -> str:
    """Put event files where production receives them, the stack's bucket under ``raw/``; returns the
    ``s3://`` prefix the nightly run reads (every night the whole prefix: ingest skips what it loaded)."""
    s3 = aws.client("s3", settings)
    for path in files:
        s3.upload_file(str(path), bucket, f"{RAW_PREFIX}{path.name}")
    return f"s3://{bucket}/{RAW_PREFIX}"


def replay_days(files: list[Path], settings: PipelineSettings, bucket: str, echo=print) -> list[DayResult]:
    """One nightly run per file, in order: the day's file lands in the bucket, then the run reads it.

    A night that fails on its data (e.g. too little history yet for the holdout) is shown as failed and
    the next night goes on, as the schedule would; what it ingested stays in the warehouse."""
    from pipeline.flow import nightly

    echo(HEADER)
    results = []
    for path in files:
        try:
            summary = nightly(events=[land([path], settings, bucket)], settings=settings)
            results.append(day_result(path.stem, summary, settings))
        except PipelineError as err:
            served = plan.served_version(aws.client("dynamodb", settings), settings.table_name)
            results.append(
                DayResult(path.stem, None, served, False, None, None, f"{type(err).__name__}: {err}")
            )
        echo(results[-1].line())
    return results


def example_user(settings: PipelineSettings) -> str:
    """The most active user of the warehouse, for the curl examples."""
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        row = con.execute(
            "SELECT user_id FROM raw_events GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1"
        ).fetchone()
    return row[0] if row else "some-user"


def examples(base_url: str, user_id: str) -> str:
    return "\n".join(
        [
            f"API on {base_url}   (OpenAPI docs: {base_url}/docs)",
            f"  curl -s {base_url}/health",
            f"  curl -s '{base_url}/v1/users/{user_id}/recommendations?k=5'",
            f"  curl -s '{base_url}/v1/users/new-visitor-0001/recommendations?k=5'   # the popular fallback",
            "Ctrl-C stops the API and the local AWS.",
        ]
    )


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM ends the replay like Ctrl-C, so the context managers stop what they started."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def local_stack(local: LocalAWS, table_name: str, echo=print) -> stack.StackOutputs:
    """The template's stack in the local AWS, under a fresh name."""
    outputs = stack.create_stack(
        endpoint_url=local.endpoint_url,
        stack_name=f"recs-replay-{uuid.uuid4().hex[:6]}",
        table_name=table_name,
        region=local.region,
    )
    echo(f"local AWS at {local.endpoint_url}: stack {outputs.stack_name} from infra/{stack.TEMPLATE.name}")
    echo(f"  table {outputs.table_name}, bucket {outputs.bucket_name}, function {outputs.function_name}")
    return outputs


def impression_environment(outputs: stack.StackOutputs) -> dict[str, str]:
    """Wire the stack's impression path (log group → Firehose → bucket) and point the API at it."""
    from infra.local.impressions import wire_impressions

    log_group = f"/aws/lambda/{outputs.function_name}"  # Lambda's convention, the template's ApiLogGroup
    wire_impressions(boto3.session.Session(), log_group, outputs.bucket_name)
    return {"RECS_IMPRESSIONS": "log_group", "RECS_IMPRESSIONS_LOG_GROUP": log_group}


def run_replay(
    events: list[str] | None = None,
    days: str | None = None,
    config: str | None = None,
    workdir: Path = Path("var/replay"),
    port: int = 8000,
    serve: bool = True,
    echo=print,
) -> list[DayResult]:
    """The whole replay; returns one result per nightly run."""
    from infra.local.demo import serve_api
    from pipeline.flow import nightly

    if events is None and days is None:
        events, config = [str(SAMPLE / "events")], config or str(SAMPLE / "retail.toml")
    files = day_files(Path(days)) if days else event_files(events or [])
    results: list[DayResult] = []
    with (
        sigterm_as_interrupt(),
        fresh_workdir(workdir),
        LocalAWS() as local,
        environment(local.environment()),
    ):
        try:
            outputs = local_stack(local, load_settings(config).table_name, echo)
            settings = replay_settings(config, workdir, local.endpoint_url, outputs.table_name)
            if days:
                results = replay_days(files, settings, outputs.bucket_name, echo)
            else:
                summary = nightly(events=[land(files, settings, outputs.bucket_name)], settings=settings)
                results = [day_result("run", summary, settings)]
                echo(HEADER)
                echo(results[0].line())
            if serve:
                api_env = {**local.environment(), "RECS_TABLE_NAME": outputs.table_name}
                api_env |= impression_environment(outputs)  # impressions reach the bucket as on AWS
                with serve_api(api_env, port=port) as base_url:
                    echo(examples(base_url, example_user(settings)))
                    threading.Event().wait()  # until Ctrl-C / SIGTERM
        except KeyboardInterrupt:
            echo("stopping the API and the local AWS")
    return results
