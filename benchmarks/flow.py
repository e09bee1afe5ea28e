"""Benchmark: the real nightly flow end to end, stage by stage from Prefect's own task-run records.

    recs bench --scale SCALE --only flow [--json]
    python -m benchmarks.flow [--scale tiny|small|medium|large] [--dask-workers 1 2] [--json]

In a fresh child process (so that its peak RSS is the flow's own): the synthetic log of
``scale`` written as daily Parquet files, a local moto server (S3 and DynamoDB over HTTP), a
temporary Prefect API, then ``pipeline.flow.nightly`` on that log with the default settings
(tuning included) on the default task runner, except ``holdout_days`` (a fifth of the log's
days) and ``force`` (the version is published whatever the gate says). Reported:

- ``flow``: the flow's wall time, its peak RSS, and each stage's seconds summed over its task
  runs as Prefect recorded them (``start_time`` to ``end_time``, subflows included);
- ``flow without publishing``: the wall time less the publishing tasks' recorded seconds
  (the local server's write speed is moto's, not DynamoDB's);
- ``publish vs bare batch_writer`` (``benchmarks.flow_publish``): the flow's publishing task
  and a bare boto3 ``batch_writer`` loop (``publish_workers`` threads, as ``benchmarks.publish``
  has it) writing the same rows (rebuilt from the artifact, checked against the fingerprint the
  flow registered) to fresh tables of the same server, alternating, in the same run; and the
  flow's own recorded publishing seconds next to the best bare run;
- with ``dask_workers`` (``recs bench``: 1 and 2): top-k for every user of the flow's model
  on a ``distributed`` LocalCluster of 1, 2... worker processes (one thread each, 2 shards
  per worker), through
  ``fanout.score_users`` on prefect-dask's ``DaskTaskRunner``, next to the same scoring in
  the flow's process on one thread (the cluster is started, and its workers have scored a
  few users, before the clock starts; each task is sent its users' rows of the factors and of
  the seen matrix, ``shard.slice_for``), and the bytes a shard's inputs pickle to, sliced and
  whole (what each task was sent before).
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

from benchmarks import flow_publish, print_records
from benchmarks.flow_publish import compare
from benchmarks.proc import in_child, peak_rss_mb, record

PUBLISH_TASKS = ("publish_version", "begin_publish", "write_part", "finish_publish")
SUBFLOWS = ("score-and-publish",)


def stage_seconds(task_runs: list) -> dict[str, dict]:
    """Seconds and run count per stage (task name without Prefect's ``-abc`` suffix), in start order."""
    stages: dict[str, dict] = {}
    for run in sorted(task_runs, key=lambda r: r.start_time or r.expected_start_time):
        if run.start_time is None or run.end_time is None or run.name.startswith(SUBFLOWS):
            continue  # a subflow's own task run spans its tasks: counted through them
        name = re.sub(r"-[0-9a-f]{3}$", "", run.name)
        stage = stages.setdefault(name, {"seconds": 0.0, "runs": 0})
        stage["seconds"] += (run.end_time - run.start_time).total_seconds()
        stage["runs"] += 1
    return {name: {"seconds": round(s["seconds"], 3), "runs": s["runs"]} for name, s in stages.items()}


def recorded_task_runs(flow_run_id, wait: float = 30.0) -> list:
    """The final task runs of a flow run and of its subflows, once the API has them all."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterParentFlowRunId

    deadline, last = time.monotonic() + wait, -1
    with get_client(sync_client=True) as client:
        while True:  # states reach the API as events, a moment after the run
            children = FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id]))
            ids = [flow_run_id, *(r.id for r in client.read_flow_runs(flow_run_filter=children))]
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
            final = [r for r in runs if r.state and r.state.is_final()]
            if (len(final) == len(runs) == last) or time.monotonic() > deadline:
                return final
            last = len(final)
            time.sleep(1.0)


def quality(settings, version: str) -> dict:
    """What the run's search and evaluation measured, from its artifact: trials by state, the users
    the search fitted on (a sample past ``tuning.max_users``), and each list's NDCG@k with its 95%
    interval on the holdout users measured (a sample past ``eval_max_users``)."""
    from benchmarks.sampling import headline
    from pipeline.model import artifact

    meta = artifact.load_meta(settings.artifacts_dir, version)
    tuning, evaluation = meta.tuning, meta.evaluation
    states = [t["state"] for t in tuning.trials]
    return {
        "search_seconds": tuning.seconds, "search_sampled_users": tuning.sampled_users,
        "trials": {state: states.count(state) for state in sorted(set(states))},
        "stopped_by_budget": sum(bool(t.get("stopped_by_budget")) for t in tuning.trials),
        "winner": tuning.best.model_dump(), "eval_sampled_from": evaluation.sampled_from,
        "gate_passed": meta.gate.passed,
        "holdout": headline(evaluation),
    }  # fmt: skip


def _dask_scoring(settings, version: str, workers_list: list[int]) -> list[dict]:
    """Top-k for every user of the flow's model and seen items, in process and on Dask."""
    from pipeline.data import interactions, warehouse
    from pipeline.model import artifact

    art = artifact.load(settings.artifacts_dir, version)
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        data = interactions.load_matrix(con, interactions.InteractionRules.from_settings(settings))
        seen = interactions.seen_matrix(con, settings.exclude_items_regex, data)
    return scoring_on_dask(art.model, seen, settings.k, workers_list)


def scoring_on_dask(model, seen, k: int, workers_list: list[int]) -> list[dict]:
    """Top-k for every user in this process (one thread) and on LocalClusters of each size
    (one thread a worker, 2 shards a worker, workers warmed before the clock)."""
    import pickle

    import distributed
    from prefect import flow, unmapped
    from prefect_dask import DaskTaskRunner

    from pipeline.fanout import score_users
    from pipeline.precompute import shard

    users = seen.shape[0]
    started = time.perf_counter()
    shard.score_range(model, seen, k, range(users), threads=1)
    single = time.perf_counter() - started
    whole_bytes = len(pickle.dumps((model, seen), protocol=pickle.HIGHEST_PROTOCOL))

    @flow(name="bench-scoring")
    def scoring(shards: int, n: int) -> int:
        slices = [shard.slice_for(model, seen, r) for r in shard.ranges(n, shards)]
        parts = score_users.map(slices, unmapped(k))
        return len(shard.concat([p.result() for p in parts]).ids)

    records = []
    for workers in workers_list:
        cluster_options = {"n_workers": workers, "threads_per_worker": 1, "dashboard_address": None}
        first = shard.slice_for(model, seen, shard.ranges(users, 2 * workers)[0])
        sliced_bytes = len(pickle.dumps(first, protocol=pickle.HIGHEST_PROTOCOL))
        with distributed.LocalCluster(**cluster_options) as cluster:
            runner = DaskTaskRunner(address=cluster.scheduler_address)
            on_dask = scoring.with_options(task_runner=runner)  # type: ignore[arg-type]
            on_dask(2 * workers, 2 * workers)  # the workers import the pipeline before the clock starts
            started = time.perf_counter()
            scored = on_dask(2 * workers, users)
            seconds = time.perf_counter() - started
        records.append(
            record(
                f"top-k on Dask, {workers} worker process(es) vs 1 thread in the flow's process",
                seconds, single, peak_rss_mb(), users=scored, shards=2 * workers, workers=workers,
                shard_input_bytes=sliced_bytes, whole_input_bytes=whole_bytes,
            )
        )  # fmt: skip
    return records


def _run_flow(
    scale: str, workdir: str, dask_workers: list[int], repeats: int = 2, tuning: dict | None = None
) -> dict:
    """The child's work: log, local AWS, Prefect, the flow; figures as a dict."""
    os.environ["PREFECT_HOME"] = str(Path(workdir) / "prefect-home")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    from prefect.testing.utilities import prefect_test_harness

    from infra.local.aws import LocalAWS, environment
    from infra.local.synthetic import SCALES, write_daily
    from pipeline.flow import nightly
    from pipeline.settings import load_settings

    spec = SCALES[scale]
    files = write_daily(spec, Path(workdir) / "events")
    with LocalAWS() as aws, environment(aws.environment()), prefect_test_harness(server_startup_timeout=120):
        settings = load_settings(
            warehouse=Path(workdir) / "warehouse.duckdb",
            artifacts_dir=Path(workdir) / "artifacts",
            table_name="bench-flow",
            aws_endpoint_url=aws.endpoint_url,
            holdout_days=max(1, spec.days // 5),  # the default 30 days would hold out a 30-day log whole
        )
        if tuning:  # e.g. the search's caps (--search-caps)
            settings = settings.model_copy(update={"tuning": settings.tuning.model_copy(update=tuning)})
        started = time.perf_counter()
        events = [str(Path(workdir) / "events")]
        state = nightly(
            events=events, settings=settings, force=True, return_state=True
        )  # publish, whatever the gate says
        wall = time.perf_counter() - started
        summary = state.result()
        peak = peak_rss_mb()
        stages = stage_seconds(recorded_task_runs(state.state_details.flow_run_id))
        metrics = summary.metrics or {}
        side_by_side = summary.published and repeats > 0  # --repeats 0: the flow alone
        bare = compare(aws, settings, summary.model_version, metrics, repeats) if side_by_side else None
        scoring = _dask_scoring(settings, summary.model_version, dask_workers) if dask_workers else []
        measured = quality(settings, summary.model_version)
    return {
        "events": spec.events, "files": len(files), "users": summary.users, "items": summary.items,
        "published": summary.published, "rows": summary.rows_published, "wall": wall, "peak": peak,
        "stages": stages, "bare": bare and bare | {"publish_workers": settings.publish_workers},
        "scoring": scoring, "quality": measured,
    }  # fmt: skip


def run(
    scale: str = "small",
    dask_workers: list[int] | None = None,
    workdir: Path | None = None,
    repeats: int = 2,
    tuning: dict | None = None,
) -> list[dict]:
    """Stage records (benchmarks/__init__.py) of one nightly run at ``scale``; ``repeats`` side-by-side
    publishing runs of each side after it; ``tuning``: settings of the search other than the defaults."""
    with tempfile.TemporaryDirectory(prefix="recs-bench-flow-") as tmp:
        found = in_child(_run_flow, scale, str(workdir or tmp), dask_workers or [], repeats, tuning)
    stages, wall = found["stages"], found["wall"]
    publish = sum(s["seconds"] for name, s in stages.items() if name in PUBLISH_TASKS)
    shape = {"events": found["events"], "users": found["users"], "items": found["items"]}
    records = [
        record(f"flow: {name}", s["seconds"], None, found["peak"], task_runs=s["runs"])
        for name, s in stages.items()
    ]
    records.append(
        record(
            "nightly flow (measured)", wall, None, found["peak"], stages=stages,
            quality=found["quality"], **shape,
        )
    )  # fmt: skip
    records.append(
        record(
            "nightly flow without publishing (measured)", wall - publish, None, found["peak"],
            note="wall time less the publishing tasks' recorded seconds", **shape,
        )
    )  # fmt: skip
    if found["bare"]:
        records += flow_publish.records(found["bare"], publish, found["peak_rss_mb"])
    return records + found["scoring"]


def stages(scale: str = "small") -> list[dict]:
    """The records ``recs bench --only flow`` collects: the flow, then scoring on 1 and 2 Dask workers."""
    return run(scale, dask_workers=[1, 2])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flow", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"])
    parser.add_argument(
        "--dask-workers", type=int, nargs="*", default=[], help="also score on Dask with these"
    )
    parser.add_argument("--workdir", type=Path, help="keep the log, warehouse and artifacts here")
    parser.add_argument(
        "--repeats", type=int, default=2, help="side-by-side publishing runs of each side (0: none)"
    )
    parser.add_argument(
        "--search-caps", type=int, nargs=2, metavar=("FACTORS", "ITERATIONS"),
        help="tuning.max_factors and tuning.max_iterations (default: none)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the records")
    args = parser.parse_args(argv)
    caps = args.search_caps and {"max_factors": args.search_caps[0], "max_iterations": args.search_caps[1]}
    print_records(run(args.scale, args.dask_workers, args.workdir, args.repeats, caps), args.json)


if __name__ == "__main__":
    main()
