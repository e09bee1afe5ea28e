"""Benchmark: evaluating a model on every holdout user, next to implicit's own evaluation, in the same run.

    python -m benchmarks.evaluate [--scale tiny|small|medium|large] [--repeats R] [--json]

Builds a synthetic log (``infra.local.synthetic``, medium = 100k users, 20k items, 2M
events), splits it per user, fits one ALS model, then times on the same model and split:

- baseline: ``implicit.evaluation.ranking_metrics_at_k(model, train, test, K=10)``,
  the library's own Cython loop (top-k and precision/MAP/NDCG/AUC for every test user);
- ``evaluate`` (ours): ``recommend.top_k_for_users`` for the test users, then all six
  ranking metrics at k = 5, 10 and 20 (``ranking_metrics``);
- ``metrics only``: the vectorised metric step alone, on lists already computed.

Each is run ``repeats`` times, interleaved, the fastest kept: other people share this
machine's cores, so single timings are noisy and the ratio of runs taken side by side is
the figure (``ratio`` = seconds / baseline seconds). Also prints seconds per ALS iteration.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from typing import Any

import numpy as np
from implicit.evaluation import ranking_metrics_at_k

from infra.local import synthetic
from pipeline.data.splits import split_per_user
from pipeline.model import train
from pipeline.model.metrics import ranking_metrics
from pipeline.precompute import recommend
from pipeline.settings import ALSParams

SCALES = ("tiny", "small", "medium", "large")  # names of synthetic.SCALES
WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _best_of(repeats: int, work) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        began = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - began)
    return best, result


def run(scale: str = "small", repeats: int = 2) -> list[dict]:
    spec = synthetic.SCALES[scale]
    holdout = split_per_user(synthetic.interactions(spec, WEIGHTS), 0.2, seed=0)
    params = ALSParams(factors=64, iterations=10)
    began = time.perf_counter()
    model = train.fit(holdout.train, params)
    per_iteration = (time.perf_counter() - began) / params.iterations
    users = holdout.test_users
    test = holdout.test.astype(np.float32)

    def ours() -> dict:
        lists = recommend.top_k_for_users(model, holdout.train.user_items, 20, users).ids
        return ranking_metrics(lists, holdout.test[users], [5, 10, 20])

    lists = recommend.top_k_for_users(model, holdout.train.user_items, 20, users).ids
    timings: dict[str, list[float]] = {"baseline": [], "ours": [], "metrics": []}
    results: dict[str, Any] = {}
    for _ in range(repeats):  # interleaved: each round runs all three back to back
        for name, work in (
            (
                "baseline",
                lambda: ranking_metrics_at_k(
                    model, holdout.train.user_items, test, K=10, show_progress=False
                ),
            ),
            ("ours", ours),
            ("metrics", lambda: ranking_metrics(lists, holdout.test[users], [5, 10, 20])),
        ):
            seconds, results[name] = _best_of(1, work)
            timings[name].append(seconds)
    base = min(timings["baseline"])
    common = {
        "users": int(len(users)),
        "items": int(holdout.train.shape[1]),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }
    return [
        {
            "name": "evaluate: implicit ranking_metrics_at_k (k=10)",
            "seconds": round(base, 3),
            "baseline_seconds": None,
            "ratio": None,
        }
        | common
        | {"ndcg@10": round(results["baseline"]["ndcg"], 4)},
        {
            "name": "evaluate: top-k + 6 metrics at k=5,10,20",
            "seconds": round(min(timings["ours"]), 3),
            "baseline_seconds": round(base, 3),
        }
        | {"ratio": round(min(timings["ours"]) / base, 3)}
        | common
        | {"ndcg@10": round(results["ours"]["ndcg@10"], 4)},
        {
            "name": "evaluate: metrics only (vectorised)",
            "seconds": round(min(timings["metrics"]), 3),
            "baseline_seconds": round(base, 3),
        }
        | {"ratio": round(min(timings["metrics"]) / base, 3)}
        | common,
        {
            "name": "evaluate: ALS fit seconds per iteration (CPU, 64 factors)",
            "seconds": round(per_iteration, 3),
            "baseline_seconds": None,
            "ratio": None,
        }
        | common
        | {"gpu": train.gpu_available()},
    ]


def stages(scale: str = "small") -> list[dict]:
    """The records for ``recs bench`` (benchmarks/run.py)."""
    return run(scale, repeats=1 if scale in ("tiny", "large") else 2)


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--scale", choices=SCALES, default="small")
    args.add_argument("--repeats", type=int, default=2)
    args.add_argument("--json", action="store_true")
    parsed = args.parse_args(argv)
    records = run(parsed.scale, parsed.repeats)
    for record in records:
        ratio = f"  ratio {record['ratio']:.3f}" if record["ratio"] is not None else ""
        print(f"{record['name']:<55} {record['seconds']:>8.3f} s{ratio}  ({record['users']} users)")
    if parsed.json:
        print(json.dumps(records))


if __name__ == "__main__":
    main()
