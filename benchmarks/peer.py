"""Benchmark: our ALS next to the peer a user would pick instead, Spark MLlib's ALS, in the same run.

    python -m benchmarks.peer [--datasets retail small ...] [--grid tiny|small] [--k K] [--json]
    recs bench --scale SCALE --only peer          (the retail sample and the synthetic log of SCALE)

Needs the ``peer`` extra (pyspark) and Java 17+; never part of ``make test``. For each dataset
(``retail``: the bundled sample read as ``recs evaluate`` reads it, ``benchmarks.search``'s
random-per-user holdout; a scale name: the synthetic log, ``split_per_user``, as
``benchmarks.evaluate`` has it), on one holdout (20% of each user's items, seed 0):

1. **Tuning, comparable.** Both search on the same validation fold, carved out of the
   training part only (``split_per_user(train, 0.2, seed)``, the fold ``tune.tune`` makes):
   Spark tries every point of a grid over rank, regParam and alpha (implicitPrefs=True,
   maxIter 15); ours runs the project's own search (``tune.tune``: Optuna TPE with pruning,
   from the dataset's configured parameters) with as many trials as the grid has points.
   Each keeps its best nDCG@10 on the fold.
2. **Fit**: each winner fitted on the training part, timed (Spark: ``ALS.fit`` on a cached
   DataFrame of rating rows, factors materialised; ours: ``train.fit``).
3. **Top-k for all users** (k = the flow's 50): ours ``recommend.top_k_for_users`` (seen
   items excluded); Spark ``recommendForAllUsers(k)`` written to the ``noop`` sink (Spark's
   best case: it excludes nothing and collects nothing to Python).
4. **nDCG@10** on the test part, the same code for both (``evaluate.model_lists``, seen items
   excluded, then ``metrics.ranking_metrics``): Spark's factors are read back into an implicit
   model (``peer_spark.factors``). ``spark_lists_agreement`` checks that read-back: the share
   of users whose ``recommendForAllUsers(10)`` equals the top 10 ranked from the read-back
   factors (nothing excluded).

Records (benchmarks/__init__.py): ``ratio`` is ours over Spark's seconds; ``speedup`` its inverse.
Spark runs ``local[2]`` (``SparkEngine``); ours uses every core, i.e. the same 2 here.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

from benchmarks import peer_spark, print_records
from benchmarks.peer_spark import SparkEngine, SparkParams
from benchmarks.proc import peak_rss_mb
from pipeline.data.splits import Holdout, split_per_user
from pipeline.model import evaluate, train, tune
from pipeline.model.metrics import ranking_metrics
from pipeline.precompute import recommend
from pipeline.settings import ALSParams, PipelineSettings, TuningSettings

K = 10  # nDCG@K
GOALS = {"fit_speedup": 15.0, "topk_speedup": 7.0}  # issue #17: at equal or better nDCG@10
GRIDS: dict[str, dict[str, list]] = {
    "tiny": {"rank": [64], "reg_param": [0.1, 1.0], "alpha": [1.0, 10.0]},
    "small": {"rank": [32, 64], "reg_param": [0.01, 0.1, 1.0], "alpha": [1.0, 10.0]},
    # no search: Spark at one point (the small grid's usual winner), ours at its configured parameters
    "one": {"rank": [64], "reg_param": [0.1], "alpha": [10.0]},
}
WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}
RETAIL_EVENTS, RETAIL_CONFIG = "sample_data/events", "sample_data/retail.toml"


@dataclass(frozen=True)
class Dataset:
    """One dataset of the comparison: its holdout and the parameters our search starts from."""

    name: str
    holdout: Holdout
    start: ALSParams


def load_dataset(name: str, seed: int = 0) -> Dataset:
    """``retail`` (the bundled sample with its settings) or a synthetic scale name."""
    if name == "retail":
        from benchmarks.search import load_holdout
        from pipeline.settings import load_settings

        settings = load_settings(RETAIL_CONFIG)
        return Dataset(name, load_holdout(RETAIL_EVENTS, settings, seed), settings.als)
    from infra.local.synthetic import SCALES, interactions

    if name not in SCALES:
        raise ValueError(f"dataset must be 'retail' or a scale among {sorted(SCALES)}, got {name!r}")
    holdout = split_per_user(interactions(SCALES[name], WEIGHTS), 0.2, seed=seed)
    return Dataset(f"synthetic {name}", holdout, ALSParams())


def grid_points(grid: dict[str, list]) -> list[SparkParams]:
    names = list(grid)
    return [SparkParams(**dict(zip(names, v, strict=True))) for v in itertools.product(*grid.values())]


def as_implicit(user_factors: np.ndarray, item_factors: np.ndarray) -> AlternatingLeastSquares:
    """An implicit CPU model holding the given factors (how ``train.fit`` warm-starts one), so that
    the project's own top-k and evaluation rank Spark's factors exactly as ours."""
    model = AlternatingLeastSquares(factors=user_factors.shape[1])
    model.user_factors, model.item_factors = user_factors, item_factors
    return model


def ndcg(model: AlternatingLeastSquares, holdout: Holdout) -> float:
    users = holdout.test_users
    lists = evaluate.model_lists(model, holdout, users, K)
    return ranking_metrics(lists, holdout.test[users], K)[f"ndcg@{K}"]


def spark_search(
    spark: Any, fold: Holdout, points: list[SparkParams], engine: SparkEngine
) -> tuple[SparkParams, list[dict], float]:
    """Every grid point fitted on the fold's training part and scored on its validation part:
    (the best point, the trials, seconds)."""
    if len(points) == 1:
        return points[0], [], 0.0
    started = time.perf_counter()
    ratings = peer_spark.ratings_frame(spark, fold.train, engine)
    trials, scores = [], []
    for point in points:
        model, seconds = peer_spark.fit(ratings, point, engine)
        scores.append(ndcg(as_implicit(*peer_spark.factors(model, fold.train.shape)), fold))
        trials.append({"params": vars(point), "ndcg@10": round(scores[-1], 4), "seconds": round(seconds, 2)})
    ratings.unpersist()
    best = int(np.argmax(scores))
    return points[best], trials, time.perf_counter() - started


def our_search(data: Dataset, points: list[SparkParams], seed: int) -> tuple[ALSParams, float]:
    """The project's search on the same fold (same seed and share) with as many trials as Spark's
    grid has points, over the same ranks and iterations (so that the winners' fits do comparable
    work); regularization, alpha and the scaling over the search's own ranges. It starts from the
    dataset's configured parameters at the grid's largest rank. One point: no search, that start."""
    ranks, iterations = [p.rank for p in points], points[0].max_iter
    start = data.start.model_copy(update={"factors": max(ranks), "iterations": iterations})
    if len(points) == 1:
        return start, 0.0
    space = tune.SearchSpace(factors=(min(ranks), max(ranks)), iterations=(iterations, iterations))
    budget = TuningSettings(max_trials=len(points), max_seconds=3600.0, seed=seed, validation_fraction=0.2)
    started = time.perf_counter()
    record = tune.tune(data.holdout.train, budget, K, start, space, use_gpu=False)
    return record.best, time.perf_counter() - started


def agreement(spark_model: Any, user_factors: np.ndarray, item_factors: np.ndarray) -> float:
    """Share of users whose ``recommendForAllUsers(10)`` equals the top 10 of the read-back factors."""
    k = min(K, item_factors.shape[0])
    theirs = peer_spark.collected_lists(spark_model, k, user_factors.shape[0])
    nothing = sp.csr_matrix((user_factors.shape[0], item_factors.shape[0]), dtype=np.float32)
    ours = recommend.top_k_for_users(as_implicit(user_factors, item_factors), nothing, k)
    has = theirs[:, 0] >= 0
    return float((theirs[has] == ours.ids[has]).all(axis=1).mean())


def compare(spark: Any, data: Dataset, grid: dict[str, list], engine: SparkEngine, k: int, seed: int) -> dict:
    """Tune both, fit both, top-k both, nDCG@10 both: the figures of one dataset."""
    load_before = os.getloadavg()[0]
    holdout = data.holdout
    fold = split_per_user(holdout.train, 0.2, seed)
    points = grid_points(grid)
    spark_best, spark_trials, spark_search_s = spark_search(spark, fold, points, engine)
    ours_best, ours_search_s = our_search(data, points, seed)

    ratings = peer_spark.ratings_frame(spark, holdout.train, engine)
    spark_model, spark_fit_s = peer_spark.fit(ratings, spark_best, engine)
    started = time.perf_counter()
    ours = train.fit(holdout.train, ours_best, use_gpu=False)
    ours_fit_s = time.perf_counter() - started

    spark_topk_s = peer_spark.top_k_all_users(spark_model, k)
    started = time.perf_counter()
    recommend.top_k_for_users(ours, holdout.train.user_items, k)
    ours_topk_s = time.perf_counter() - started

    user_factors, item_factors = peer_spark.factors(spark_model, holdout.train.shape)
    return {
        "dataset": data.name,
        "users": holdout.train.shape[0],
        "items": holdout.train.shape[1],
        "train_pairs": int(holdout.train.user_items.nnz),
        "test_users": len(holdout.test_users),
        "k": k,
        "ours_fit_s": ours_fit_s,
        "spark_fit_s": spark_fit_s,
        "ours_topk_s": ours_topk_s,
        "spark_topk_s": spark_topk_s,
        "ours_ndcg@10": round(ndcg(ours, holdout), 4),
        "spark_ndcg@10": round(ndcg(as_implicit(user_factors, item_factors), holdout), 4),
        "spark_lists_agreement": round(agreement(spark_model, user_factors, item_factors), 4),
        "ours_configured_ndcg@10": round(
            ndcg(train.fit(holdout.train, data.start, use_gpu=False), holdout), 4
        ),
        "ours_configured_params": data.start.model_dump(),
        "ours_params": ours_best.model_dump(),
        "spark_params": vars(spark_best),
        "ours_search_s": round(ours_search_s, 1),
        "spark_search_s": round(spark_search_s, 1),
        "spark_trials": spark_trials,
        "grid_points": len(points),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "spark_jvm_peak_rss_mb": peer_spark.jvm_peak_rss_mb(spark),
    }


def records(row: dict) -> list[dict]:
    """Two stage records (fit, top-k) of one dataset's figures, ratios against Spark."""
    better = row["ours_ndcg@10"] >= row["spark_ndcg@10"]
    shared = {
        key: row[key]
        for key in ("users", "items", "train_pairs", "test_users", "ours_ndcg@10", "spark_ndcg@10",
                    "spark_lists_agreement", "load_average")
    }  # fmt: skip
    out = []
    for stage, what in (("fit", "ALS fit vs Spark MLlib ALS.fit"), ("topk", "top-k all users vs Spark")):
        ours, theirs = row[f"ours_{stage}_s"], row[f"spark_{stage}_s"]
        speedup = theirs / ours
        out.append(
            {
                "name": f"peer: {what} ({row['dataset']})",
                "seconds": round(ours, 3),
                "baseline_seconds": round(theirs, 3),
                "ratio": round(ours / theirs, 4),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "speedup": round(speedup, 1),
                "goal_met": bool(speedup >= GOALS[f"{stage}_speedup"] and better),
                **shared,
            }
        )
    out[0] |= {key: row[key] for key in ("ours_params", "spark_params", "ours_search_s", "spark_search_s",
                                         "grid_points", "spark_trials", "ours_configured_ndcg@10",
                                         "ours_configured_params", "spark_jvm_peak_rss_mb")}  # fmt: skip
    return out


def run(
    datasets: list[str],
    grid: str = "small",
    k: int | None = None,
    seed: int = 0,
    engine: SparkEngine | None = None,
) -> list[dict]:
    """Stage records of every dataset, Spark measured in this same run."""
    engine = engine or SparkEngine()
    k = k or PipelineSettings().k
    with tempfile.TemporaryDirectory(prefix="recs-bench-peer-") as tmp:
        spark = peer_spark.session(engine, Path(tmp))
        try:
            rows = [
                compare(spark, load_dataset(name, seed), GRIDS[grid], engine, k, seed) for name in datasets
            ]
            return [record for row in rows for record in records(row)]
        finally:
            spark.stop()


def stages(scale: str = "small") -> list[dict]:
    """What ``recs bench --only peer`` collects: the retail sample and the synthetic log of ``scale``."""
    return run(["retail", scale], grid="tiny" if scale == "tiny" else "small")


def table(rows: list[dict]) -> str:
    """The stage records as the comparison table: ours, Spark, speed-up, nDCG@10 of each."""
    lines = [f"{'stage':64} {'ours s':>8} {'Spark s':>8} {'speedup':>8} {'nDCG ours':>9} {'nDCG Spark':>10}"]
    for r in rows:
        lines.append(
            f"{r['name'][:64]:64} {r['seconds']:8.2f} {r['baseline_seconds']:8.2f} {r['speedup']:7.1f}x "
            f"{r['ours_ndcg@10']:9.4f} {r['spark_ndcg@10']:10.4f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peer", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["retail", "small"], help="retail and/or scale names"
    )
    parser.add_argument(
        "--grid", default="small", choices=sorted(GRIDS), help="Spark's grid (default: small)"
    )
    parser.add_argument("--k", type=int, help="top-k list length (default: the flow's k, 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the records")
    args = parser.parse_args(argv)
    rows = run(args.datasets, args.grid, args.k, args.seed)
    print(table(rows))
    print_records(rows, args.json)


if __name__ == "__main__":
    main()
