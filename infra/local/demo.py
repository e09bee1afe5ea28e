"""``recs demo``: the whole product once, on the bundled retail data and a local AWS.

Starts moto's server, runs the nightly flow, serves the API with uvicorn on
127.0.0.1, asks it over HTTP for a few real customers (and one unknown user),
prints the answers with product names, and stops everything it started.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import boto3
import httpx
import pandas as pd

import contract
from infra.local import SAMPLE
from infra.local.aws import LocalAWS, answers, environment, free_port
from infra.local.impressions import wait_for_impressions, wire_impressions
from infra.local.workdir import fresh_workdir
from pipeline.data import warehouse
from pipeline.flow import nightly
from pipeline.settings import PipelineSettings, load_settings


@contextmanager
def serve_api(env: dict[str, str], startup_timeout: float = 30.0, port: int | None = None):
    """The API under uvicorn on ``port`` (default: a free local port); yields its base URL."""
    port = port or free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "lambda_api.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**os.environ, **env},
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        if not answers(f"{base_url}/health", process, startup_timeout, interval=0.2):
            raise RuntimeError(f"the API did not start on {base_url}")
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def stage_seconds(flow_run_id) -> list[tuple[str, float]]:
    """How long each task of a flow run took, as Prefect recorded it, in start order."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
        )
    return [(run.name.rsplit("-", 1)[0], run.total_run_time.total_seconds()) for run in runs]


def example_users(settings: PipelineSettings) -> list[str]:
    """Three real customers of different activity (heaviest, median, light) and one unknown id."""
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        counts = con.execute(
            "SELECT user_id, count(DISTINCT item_id) AS n FROM raw_events "
            "WHERE event_type = 'purchase' GROUP BY user_id HAVING n >= 5 ORDER BY n DESC, user_id"
        ).fetchall()
    picks = [counts[0][0], counts[len(counts) // 2][0], counts[-1][0]]
    return [*picks, "new-visitor-0001"]


def print_answer(answer: dict, names: pd.Series, k: int) -> None:
    print(
        f"\nuser {answer['user_id']}  ({answer['source']}, model {answer['model_version']}, "
        f"rec_id {answer['rec_id'][:8]})"
    )
    for rank, item in enumerate(answer["items"][:k], start=1):
        name = names.get(item["item_id"], "?")
        print(f"  {rank:>2}. {item['item_id']:<8} {name:<40.40} score {item['score']:.3f}")


IMPRESSION_BUCKET = "recs-demo"
IMPRESSION_LOG_GROUP = "/aws/lambda/recs-demo-api"


def impression_log() -> dict[str, str]:
    """The local impression path (log group, Firehose, bucket) made, and the API's settings for it."""
    boto3.client("s3").create_bucket(Bucket=IMPRESSION_BUCKET)
    wire_impressions(boto3.session.Session(), IMPRESSION_LOG_GROUP, IMPRESSION_BUCKET)
    return {"RECS_IMPRESSIONS": "log_group", "RECS_IMPRESSIONS_LOG_GROUP": IMPRESSION_LOG_GROUP}


def run_demo(workdir: Path = Path("var/demo"), k: int = 5) -> None:
    names = pd.read_csv(SAMPLE / "items.csv", dtype=str).set_index("item_id")["name"]
    with fresh_workdir(workdir), LocalAWS() as aws, environment(aws.environment()):
        settings = load_settings(
            SAMPLE / "retail.toml",
            warehouse=workdir / "warehouse.duckdb",
            artifacts_dir=workdir / "artifacts",
            aws_endpoint_url=aws.endpoint_url,
        )
        print(f"local AWS (moto) at {aws.endpoint_url}; running the nightly flow on {SAMPLE / 'events'}")
        started = time.perf_counter()
        state = nightly(events=[str(SAMPLE / "events")], settings=settings, return_state=True)
        summary = state.result()
        print(
            f"\nnightly flow: model {summary.model_version}, {summary.users:,} users x "
            f"{summary.items:,} items, {summary.rows_published:,} rows published "
            f"in {time.perf_counter() - started:.1f}s"
        )
        model, popular = summary.metrics["model"], summary.metrics["popular"]
        key = f"ndcg@{settings.eval_k}"
        print(f"holdout {key}: ALS {model[key]:.4f} vs popular {popular[key]:.4f} ({summary.reason})")
        print(
            "stage seconds: "
            + ", ".join(
                f"{name} {seconds:.1f}" for name, seconds in stage_seconds(state.state_details.flow_run_id)
            )
        )
        api_env = {**aws.environment(), "RECS_TABLE_NAME": settings.table_name, **impression_log()}
        with serve_api(api_env) as base_url:
            print(f"\nAPI on {base_url}; asking for the top {k} of four users:")
            users = example_users(settings)
            for user_id in users:
                response = httpx.get(f"{base_url}/v1/users/{user_id}/recommendations", params={"k": k})
                response.raise_for_status()
                print_answer(response.json(), names, k)
            logged = wait_for_impressions(boto3.client("s3"), IMPRESSION_BUCKET, len(users))
        where = f"s3://{IMPRESSION_BUCKET}/{contract.IMPRESSIONS_PREFIX}"
        print(f"\nimpression log: {logged} answers in {where} (log group -> Firehose -> S3, as on AWS),")
        print("  what `recs feedback` joins with the events that follow")
    print("\nlocal AWS and API stopped.")
    print(next_steps(workdir))


def next_steps(workdir: Path) -> str:
    """What to try after the demo: commands that work on what it left behind (no AWS needed)."""
    env = f"RECS_ARTIFACTS_DIR={workdir / 'artifacts'} RECS_WAREHOUSE={workdir / 'warehouse.duckdb'}"
    return (
        "\nnext:\n"
        "  # a list, offline, from the artifact the demo wrote\n"
        f"  {env} .venv/bin/recs recommend 18227 --config sample_data/retail.toml\n"
        f"  # the run reports, in a browser: {workdir / 'artifacts'}/index.html\n"
        "  # your own data: .venv/bin/recs evaluate --events YOUR_FILES... --json\n"
        "  # simulated users answer the lists for 3 days: an A/B test, measured by the nightly\n"
        "  .venv/bin/recs replay --simulate 3"
    )
