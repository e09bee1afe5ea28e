"""Benchmark: training and top-k on a CUDA GPU, next to the same work on this machine's CPU.

    python -m benchmarks.gpu [--scale large] [--cpu-users N] [--json]

Made for a short window on a machine with a GPU (docs/benchmarks.md, "GPU"), so it does
everything in one process and prints as it goes:

- **train**: ``pipeline.model.train.fit`` with ``use_gpu=True`` (implicit's CUDA ALS) on the
  scale's matrix, the flow's parameters; seconds per iteration from implicit's fit callback
  (the first iteration, which pays CUDA's start, is reported apart). Baseline: the same fit on
  the CPU for one iteration's worth, so the ratio is per iteration.
- **top-k**: implicit's GPU ``recommend`` (its ``topk`` kernel) for every user, seen items
  filtered, against ``pipeline.precompute.scoring.top_k`` on the CPU for ``--cpu-users`` users
  (its seconds scaled to all users: a measured rate, not a full run). The lists of the users
  both ranked are compared: the share of the CPU's k items the GPU also lists.
- **artifact**: the GPU-trained factors are plain arrays on the CPU (``fit`` returns a CPU model),
  so the CPU top-k above is served from the GPU's model.

With ``--device cpu`` the same code runs with no GPU (train on the CPU, no GPU top-k): how this
script is checked on a machine without one.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from benchmarks import print_records
from benchmarks.proc import peak_rss_mb, record
from benchmarks.train import _params, interactions_of, write_matrix

K = 50


def _interactions(scale: str):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "matrix.npz"
        shape = write_matrix(scale, path)
        matrix = sp.load_npz(path).tocsr()
    return interactions_of(matrix), shape


def _fit(data, on_gpu: bool, iterations: int | None = None):
    """The fitted (CPU) model and each iteration's end time (perf_counter), the start first."""
    from pipeline.model.train import fit
    from pipeline.settings import ALSParams

    params = ALSParams(**_params())
    if iterations is not None:
        params = params.model_copy(update={"iterations": iterations})
    ends = [time.perf_counter()]
    model = fit(data, params, use_gpu=on_gpu, on_iteration=lambda _m, _i: ends.append(time.perf_counter()))
    return model, np.diff(ends)


def _gpu_top_k(model, user_items: sp.csr_matrix, k: int) -> tuple[float, np.ndarray]:
    """Seconds of implicit's GPU recommend for every user (seen items filtered), and its ids."""
    gpu = model.to_gpu()
    users = np.arange(user_items.shape[0])
    gpu.recommend(users[:1024], user_items[:1024], N=k)  # the kernels' first call, not timed
    started = time.perf_counter()
    ids, _ = gpu.recommend(users, user_items, N=k, filter_already_liked_items=True)
    return time.perf_counter() - started, np.asarray(ids)


def _cpu_top_k(model, user_items: sp.csr_matrix, k: int, users: int) -> tuple[float, np.ndarray]:
    from pipeline.precompute.scoring import top_k

    started = time.perf_counter()
    ids, _ = top_k(model.user_factors[:users], model.item_factors, k, exclude=user_items[:users])
    return time.perf_counter() - started, ids


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """The mean share of each row's items in ``a`` that ``b``'s row lists too (ties may reorder)."""
    shared = [
        len(set(x[x >= 0]) & set(y[y >= 0])) / max(1, int((x >= 0).sum())) for x, y in zip(a, b, strict=True)
    ]
    return float(np.mean(shared))


def run(scale: str, device: str, cpu_users: int, k: int = K) -> list[dict]:
    data, shape = _interactions(scale)
    print(f"{scale}: {shape}", flush=True)
    on_gpu = device == "gpu"
    model, per_iteration = _fit(data, on_gpu)
    _, cpu_per_iteration = _fit(data, on_gpu=False, iterations=1)
    steady = float(np.median(per_iteration[1:])) if len(per_iteration) > 1 else float(per_iteration[0])
    records = [
        record(f"ALS iteration ({device}) vs one CPU iteration", steady, float(cpu_per_iteration[0]),
               peak_rss_mb(), first_iteration_seconds=round(float(per_iteration[0]), 3),
               iterations=len(per_iteration), fit_seconds=round(float(per_iteration.sum()), 3), **shape),
    ]  # fmt: skip
    print_records(records[-1:])
    users = min(cpu_users, data.user_items.shape[0])
    cpu_seconds, cpu_ids = _cpu_top_k(model, data.user_items, k, users)
    cpu_all = cpu_seconds * data.user_items.shape[0] / users
    if on_gpu:
        gpu_seconds, gpu_ids = _gpu_top_k(model, data.user_items, k)
        records.append(
            record(f"top-{k} for every user, GPU vs CPU (CPU rate on {users:,} users)", gpu_seconds, cpu_all,
                   peak_rss_mb(), agreement=round(agreement(cpu_ids, gpu_ids[:users]), 4))
        )  # fmt: skip
    else:
        records.append(
            record(f"top-{k} for every user, CPU (rate on {users:,} users)", cpu_all, None, peak_rss_mb())
        )
    print_records(records[-1:])
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="large", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--device", default="gpu", choices=["gpu", "cpu"])
    parser.add_argument("--cpu-users", type=int, default=50_000, help="users the CPU top-k ranks")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the records")
    args = parser.parse_args(argv)
    records = run(args.scale, args.device, args.cpu_users)  # each record is printed as it comes
    if args.json:
        print(json.dumps({"stages": records}))


if __name__ == "__main__":
    main()
