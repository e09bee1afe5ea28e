"""Benchmark: top-k for every user on 1 and 2 Dask worker processes, next to one thread in process.

    python -m benchmarks.scoring [--scale small|medium|large] [--workers 1 2] [--iterations 3] [--json]

The scoring stage of ``recs bench --only flow`` without the flow before it, so that it fits a
short slot at the large scale: the synthetic log of ``scale`` summed into interactions (as the
warehouse would), an ALS fit of the default parameters with ``iterations`` iterations (the
factors' shape is the served model's; fewer iterations only shorten the set-up), its
interactions as the seen items; then ``flow.scoring_on_dask``: top-k (the settings' ``k``) for
every user in this process on one thread, and through ``fanout.score_users`` on prefect-dask's
``DaskTaskRunner`` on a ``distributed`` LocalCluster of each number of worker processes (one
thread each, 2 shards a worker, each task sent its users' rows, ``shard.slice_for``). ``ratio``
is Dask's seconds over the one thread's.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from benchmarks import print_records

WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}


def run(scale: str = "small", workers: list[int] | None = None, iterations: int = 3) -> list[dict]:
    """Stage records (benchmarks/__init__.py) of scoring in process and on each cluster size."""
    from prefect.testing.utilities import prefect_test_harness

    from benchmarks.flow import scoring_on_dask
    from infra.local.synthetic import SCALES, interactions
    from pipeline.model import train
    from pipeline.settings import ALSParams, PipelineSettings

    data = interactions(SCALES[scale], WEIGHTS)
    model = train.fit(data, ALSParams(iterations=iterations))
    with tempfile.TemporaryDirectory(prefix="recs-bench-scoring-") as home:
        os.environ["PREFECT_HOME"] = str(Path(home))
        os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
        with prefect_test_harness(server_startup_timeout=120):
            return scoring_on_dask(model, data.user_items, PipelineSettings().k, workers or [1, 2])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scoring", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="cluster sizes (default 1 2)")
    parser.add_argument("--iterations", type=int, default=3, help="ALS iterations of the model (default 3)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the records")
    args = parser.parse_args(argv)
    print_records(run(args.scale, args.workers, args.iterations), args.json)


if __name__ == "__main__":
    main()
