"""Benchmark: the served model warm-started from the holdout model's factors, next to a cold fit.

    python -m benchmarks.warm [--scale tiny|small|medium|large] [--iterations W] [--seeds S] [--json]

The nightly flow fits twice: the holdout model on the training part (everything but the
latest interactions), then the served model on every interaction. With
``warm_start_iterations`` the second fit starts from the first one's factors and runs W
iterations instead of the configured 15. This measures, on the synthetic log of ``scale``:

- a test set: 20% of the (user, item) pairs held out at random (seed 0);
- ``data``: the other 80% (what the served model is fitted on); ``earlier``: ``data`` less
  another 20% of its pairs (what the holdout model is fitted on);
- cold: ``train.fit(data)`` with 15 iterations, once per seed (S seeds): the spread of its
  nDCG@10 on the test set is the noise;
- warm: ``train.fit(earlier)`` (15 iterations, seed 0, as the flow has it anyway), then
  ``train.fit(data, warm=...)`` with W iterations; its nDCG@10 and its seconds.

``ratio`` is the warm fit's seconds over the cold fit's (the fastest cold fit of the seeds).
Fits run in this process, one after the other, so the ratio is of runs taken side by side.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp

from benchmarks import print_records
from benchmarks.proc import peak_rss_mb
from pipeline.data.interactions import Interactions
from pipeline.model import metrics, train
from pipeline.precompute import recommend
from pipeline.settings import ALSParams

WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}
K = 10


def split_pairs(matrix: sp.csr_matrix, fraction: float, seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(kept, held out): each stored pair held out with probability ``fraction``."""
    coo = matrix.tocoo()
    out = np.random.default_rng(seed).random(coo.nnz) < fraction

    def part(mask: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=matrix.shape)

    return part(~out), part(out)


def ndcg(model, seen: sp.csr_matrix, test: sp.csr_matrix) -> float:
    users = np.flatnonzero(np.diff(test.indptr))
    top = recommend.top_k_for_users(model, seen, K, users)
    return metrics.ranking_metrics(top.ids, test[users], K)[f"ndcg@{K}"]


def _fit(data: Interactions, params: ALSParams, warm: train.WarmStart | None = None):
    started = time.perf_counter()
    model = train.fit(data, params, use_gpu=False, warm=warm)
    return model, time.perf_counter() - started


def run(
    scale: str = "small", iterations: int = 5, seeds: int = 3, params: ALSParams | None = None
) -> list[dict]:
    """Stage records (benchmarks/__init__.py): the cold fits, the warm fit and their nDCG@10."""
    from infra.local.synthetic import SCALES, interactions

    params = params or ALSParams()
    full = interactions(SCALES[scale], WEIGHTS)
    kept, test = split_pairs(full.user_items, 0.2, seed=0)
    earlier_items, _ = split_pairs(kept, 0.2, seed=1)
    data = Interactions(kept, full.user_ids, full.item_ids)
    earlier = Interactions(earlier_items, full.user_ids, full.item_ids)

    cold = [_fit(data, params.model_copy(update={"random_state": seed})) for seed in range(seeds)]
    cold_ndcg = [ndcg(model, kept, test) for model, _ in cold]
    holdout_model, _ = _fit(earlier, params)
    start = train.WarmStart(holdout_model, earlier.user_ids, earlier.item_ids, iterations)
    warm_model, warm_seconds = _fit(data, params, start)
    warm_ndcg = ndcg(warm_model, kept, test)

    cold_seconds = min(s for _, s in cold)
    spread = max(cold_ndcg) - min(cold_ndcg)
    return [
        {
            "name": f"warm start ({iterations} it.) vs cold fit ({params.iterations} it.), {scale}",
            "seconds": round(warm_seconds, 3),
            "baseline_seconds": round(cold_seconds, 3),
            "ratio": round(warm_seconds / cold_seconds, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "users": data.shape[0],
            "items": data.shape[1],
            "nnz": int(kept.nnz),
            "warm_ndcg@10": round(warm_ndcg, 4),
            "cold_ndcg@10": [round(v, 4) for v in cold_ndcg],
            "cold_spread": round(spread, 4),
            "warm_minus_cold_mean": round(warm_ndcg - float(np.mean(cold_ndcg)), 4),
            "seconds_saved": round(cold_seconds - warm_seconds, 3),
        }
    ]


def stages(scale: str = "small") -> list[dict]:
    return run(scale)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.warm", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--iterations", type=int, default=5, help="warm-start iterations (default: 5)")
    parser.add_argument("--seeds", type=int, default=3, help="cold fits, one per seed (default: 3)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the records")
    args = parser.parse_args(argv)
    print_records(run(args.scale, args.iterations, args.seeds), args.json)


if __name__ == "__main__":
    main()
