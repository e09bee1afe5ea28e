"""Benchmark: training (``pipeline.train.fit``) next to a bare ``implicit`` fit with the same parameters.

    python -m benchmarks.train [--scale tiny|small|medium|large] [--repeats R] [--json]

The interaction matrix is built straight from the synthetic arrays (the flow's default
weights: view 1, cart 3, purchase 5, summed per user and item), so the step measures
training only. The bare fit is what implicit's documentation asks of a user: BLAS held
to one thread (``threadpool_limits(1, "blas")``) and ``AlternatingLeastSquares(...)``
fitted with the flow's parameters. Each fit runs in its own fresh process (peak RSS is
its own), ``repeats`` times, interleaved, the fastest kept: other people share this
machine's cores, so the ratio of runs taken side by side is the figure. ``cpu_seconds``
is given too (it moves less than wall time on a shared machine).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from benchmarks import print_records
from benchmarks.proc import in_child, record, timed

WEIGHTS = np.array([1.0, 3.0, 5.0], dtype=np.float32)  # view, cart, purchase


def write_matrix(scale: str, path: Path) -> dict:
    """The synthetic log of ``scale`` as a user x item CSR matrix (users and items with events only)."""
    from infra.local.synthetic import SCALES, generate_arrays

    cols = generate_arrays(SCALES[scale])
    users, user = np.unique(cols["user"], return_inverse=True)
    items, item = np.unique(cols["item"], return_inverse=True)
    matrix = sp.csr_matrix((WEIGHTS[cols["event"]], (user, item)), shape=(len(users), len(items)))
    matrix.sum_duplicates()
    sp.save_npz(path, matrix)
    return {"users": matrix.shape[0], "items": matrix.shape[1], "nnz": int(matrix.nnz)}


def interactions_of(matrix: sp.csr_matrix):
    """``matrix`` as the flow's ``Interactions``, users and items named by their row and column."""
    from pipeline.data.interactions import Interactions

    users, items = np.arange(matrix.shape[0]).astype(str), np.arange(matrix.shape[1]).astype(str)
    return Interactions(matrix, users, items)


def _params() -> dict:
    from pipeline.settings import PipelineSettings

    return PipelineSettings().als.model_dump(exclude={"scaling"})  # implicit's own arguments (linear)


def fit_ours(matrix_path: str, model_path: str | None = None) -> dict:
    from implicit.cpu.als import AlternatingLeastSquares

    from pipeline.model.train import fit
    from pipeline.settings import ALSParams

    data = interactions_of(sp.load_npz(matrix_path).tocsr())
    wall, cpu, model = timed(lambda: fit(data, ALSParams(**_params()), use_gpu=False))
    assert isinstance(model, AlternatingLeastSquares)
    if model_path:
        np.savez(model_path, user_factors=model.user_factors, item_factors=model.item_factors)
    return {"seconds": wall, "cpu_seconds": cpu}


def fit_bare(matrix_path: str) -> dict:
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    matrix = sp.load_npz(matrix_path).tocsr()
    params = _params()

    def bare():
        with threadpool_limits(1, "blas"):
            AlternatingLeastSquares(**params).fit(matrix, show_progress=False)

    wall, cpu, _ = timed(bare)
    return {"seconds": wall, "cpu_seconds": cpu}


def run(matrix_path: Path, model_path: Path | None = None, repeats: int = 1) -> list[dict]:
    """Records for training on the matrix at ``matrix_path``; the fitted factors go to ``model_path``."""
    bare, ours = [], []
    for i in range(repeats):  # interleaved, fastest kept
        bare.append(in_child(fit_bare, str(matrix_path)))
        ours.append(in_child(fit_ours, str(matrix_path), str(model_path) if model_path and i == 0 else None))
    b = min(bare, key=lambda r: r["seconds"])
    o = min(ours, key=lambda r: r["seconds"])
    params = _params()
    return [
        record(
            "train: ALS fit vs bare implicit fit", o["seconds"], b["seconds"], o["peak_rss_mb"],
            cpu_seconds=round(o["cpu_seconds"], 2), baseline_cpu_seconds=round(b["cpu_seconds"], 2),
            cpu_ratio=round(o["cpu_seconds"] / b["cpu_seconds"], 3), baseline_peak_rss_mb=b["peak_rss_mb"],
            seconds_per_iteration=round(o["seconds"] / params["iterations"], 3), factors=params["factors"],
            iterations=params["iterations"], repeats=repeats,
        )
    ]  # fmt: skip


def stages(scale: str = "small", repeats: int | None = None, workdir: Path | None = None) -> list[dict]:
    """The records ``recs bench --scale`` collects (writes its own matrix)."""
    with tempfile.TemporaryDirectory(prefix="recs-bench-train-") as tmp:
        folder = Path(workdir or tmp)
        shape = in_child(write_matrix, scale, folder / "matrix.npz")
        records = run(folder / "matrix.npz", None, repeats or (1 if scale == "large" else 2))
    return [r | shape for r in records]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the records")
    args = parser.parse_args(argv)
    records = stages(args.scale, args.repeats)
    print_records(records, args.json)


if __name__ == "__main__":
    main()
