"""Benchmark: top-k for every user next to the matrix product alone for the same shapes (the floor).

    python -m benchmarks.topk [--scale tiny|small|medium|large] [--subset N] [--json]

Exact top-k needs every score, so the product ``user_factors @ item_factors.T`` is the
floor; it is timed two ways and the faster is the baseline: tiles of 512 users x 512
items on one BLAS thread per core (the tiling ``scoring.top_k`` uses), and blocks of
4096 users x all items on a multi-threaded BLAS. Then, in the same process:

- ``top-k all users``: ``recommend.top_k_for_users`` (the flow's call), k = 50;
- ``similar items``: ``recommend.similar_items`` (k = 20) next to the items x items product;
- variants on the first ``subset`` users, each next to the floor for those users:
  implicit's batch ``recommend`` (what the flow used before), numpy ``argpartition`` per
  block, and ``scoring.top_k`` with other thread counts, block/tile sizes, scan order.

``cpu_seconds`` (the process's user + system time) is given next to wall time: other
people share this machine's cores, and CPU time moves less with their load.
"""

from __future__ import annotations

import argparse
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp

from benchmarks import print_records
from benchmarks.proc import in_child, record, timed

K, SIMILAR_K = 50, 20


def product_tiled(query: np.ndarray, items: np.ndarray, rows: int = 512, cols: int = 512, threads: int = 0):
    """The product in rows x cols tiles into a reused buffer, one BLAS thread per worker."""
    from threadpoolctl import threadpool_limits

    from pipeline.precompute.scoring import default_threads

    def block(start: int) -> None:
        buffer = np.empty((rows, cols), np.float32)
        q = query[start : start + rows]
        for c in range(0, len(items), cols):
            v = items[c : c + cols]
            np.matmul(q, v.T, out=buffer[: len(q), : len(v)])

    with threadpool_limits(1, "blas"), ThreadPoolExecutor(threads or default_threads()) as pool:
        list(pool.map(block, range(0, len(query), rows)))


def product_blocked(query: np.ndarray, items: np.ndarray, rows: int = 4096, dtype=np.float32):
    """The product in blocks of all items, BLAS on every core."""
    from threadpoolctl import threadpool_limits

    from pipeline.precompute.scoring import default_threads

    query, items = query.astype(dtype), items.astype(dtype)
    buffer = np.empty((rows, len(items)), dtype)
    with threadpool_limits(default_threads(), "blas"):
        for start in range(0, len(query), rows):
            q = query[start : start + rows]
            np.matmul(q, items.T, out=buffer[: len(q)])


def argpartition_top_k(query: np.ndarray, items: np.ndarray, seen: sp.csr_matrix, k: int, rows: int = 2048):
    """numpy only: block product, seen items set to -inf through the CSR indices, argpartition, sort."""
    ids = np.empty((len(query), k), np.int32)
    for start in range(0, len(query), rows):
        scores = query[start : start + rows] @ items.T
        block = seen[start : start + rows]
        scores[np.repeat(np.arange(len(scores)), np.diff(block.indptr)), block.indices] = -np.inf
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
        ids[start : start + rows] = np.take_along_axis(part, order, axis=1)
    return ids


def _floor(query, items) -> tuple[float, float, str]:
    tiled = timed(lambda: product_tiled(query, items))
    blocked = timed(lambda: product_blocked(query, items))
    best = min(
        (tiled, "tiles 512x512, 1 BLAS thread per core"), (blocked, "blocks 4096 x all, BLAS on all cores")
    )
    return best[0][0], best[0][1], best[1]


def measure(model_path: str, matrix_path: str, subset: int) -> dict:
    """Every figure of this benchmark, in one process (run it in a child: ``in_child``)."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from pipeline.precompute import recommend, scoring

    factors = np.load(model_path)
    model = SimpleNamespace(user_factors=factors["user_factors"], item_factors=factors["item_factors"])
    seen = sp.load_npz(matrix_path).tocsr()
    query, items = model.user_factors, model.item_factors
    scoring.top_k(query[:8], items, K, seen[:8])  # compile (numba caches it on disk)
    out: dict = {"users": len(query), "items": len(items)}

    # all users: the floor, then the flow's call
    out["floor"] = _floor(query, items)
    out["top_k"] = timed(lambda: recommend.top_k_for_users(model, seen, K))[:2]

    # similar items: the items x items product, then the flow's call
    unit = items / np.maximum(np.linalg.norm(items, axis=1, keepdims=True), 1e-10)
    out["similar_floor"] = _floor(unit, unit)
    out["similar"] = timed(lambda: recommend.similar_items(model, SIMILAR_K))[:2]

    # variants on a subset of users
    n = min(subset, len(query))
    q, s = query[:n], seen[:n]
    with threadpool_limits(1, "blas"):  # as implicit asks; it warns otherwise
        implicit_model = AlternatingLeastSquares(factors=query.shape[1])
    implicit_model.user_factors, implicit_model.item_factors = q, items
    variants = {
        "implicit batch recommend (4096 users/call)": lambda: recommend.recommend_batches(
            implicit_model, s, K
        ),
        "numpy argpartition per 2048-user block": lambda: argpartition_top_k(q, items, s, K),
        "ours, 1 thread": lambda: scoring.top_k(q, items, K, s, threads=1),
        "ours (512 users x 512 items tiles, all cores)": lambda: scoring.top_k(q, items, K, s),
        "ours, tiles 256 x 2048": lambda: scoring.top_k(q, items, K, s, block_rows=256, tile_items=2048),
        "ours, tiles 128 x all items": lambda: scoring.top_k(
            q, items, K, s, block_rows=128, tile_items=len(items)
        ),
        "ours, items scanned in index order": lambda: scoring.top_k(q, items, K, s, scan_by_norm=False),
        "floor in float64 (dtype)": lambda: product_blocked(q, items, dtype=np.float64),
    }
    out["subset_users"] = n
    out["subset_floor"] = _floor(q, items)
    out["subset_floor_1_thread"] = timed(lambda: product_tiled(q, items, threads=1))[:2]
    out["variants"] = {name: timed(work)[:2] for name, work in variants.items()}
    return out


def records_from(m: dict) -> list[dict]:
    peak = m["peak_rss_mb"]
    shape = {"users": m["users"], "items": m["items"], "k": K}
    records = [
        record(
            "top-k all users vs matrix product", m["top_k"][0], m["floor"][0], peak,
            cpu_seconds=round(m["top_k"][1], 2), baseline_cpu_seconds=round(m["floor"][1], 2),
            cpu_ratio=round(m["top_k"][1] / m["floor"][1], 3), floor=m["floor"][2], **shape,
        ),
        record(
            "similar items vs matrix product", m["similar"][0], m["similar_floor"][0], peak,
            cpu_seconds=round(m["similar"][1], 2), baseline_cpu_seconds=round(m["similar_floor"][1], 2),
            cpu_ratio=round(m["similar"][1] / m["similar_floor"][1], 3), items=m["items"], k=SIMILAR_K,
        ),
    ]  # fmt: skip
    floor = m["subset_floor"]
    for name, (wall, cpu) in m["variants"].items():
        base = m["subset_floor_1_thread"] if name == "ours, 1 thread" else floor
        records.append(
            record(
                f"top-k variant: {name}", wall, base[0], peak, cpu_seconds=round(cpu, 2),
                baseline_cpu_seconds=round(base[1], 2), cpu_ratio=round(cpu / base[1], 3),
                users=m["subset_users"], items=m["items"], k=K,
            )
        )  # fmt: skip
    return records


def run(model_path: Path, matrix_path: Path, subset: int = 20_000) -> list[dict]:
    return records_from(in_child(measure, str(model_path), str(matrix_path), subset))


def stages(scale: str = "small", subset: int = 20_000, workdir: Path | None = None) -> list[dict]:
    """The records ``recs bench --scale`` collects: fits a model on the scale's matrix first."""
    from benchmarks.train import fit_ours, write_matrix

    with tempfile.TemporaryDirectory(prefix="recs-bench-topk-") as tmp:
        folder = Path(workdir or tmp)
        in_child(write_matrix, scale, folder / "matrix.npz")
        in_child(fit_ours, str(folder / "matrix.npz"), str(folder / "model.npz"))
        return run(folder / "model.npz", folder / "matrix.npz", subset)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.topk", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--subset", type=int, default=20_000, help="users for the variants")
    parser.add_argument("--model", type=Path, help="factors (.npz: user_factors, item_factors) to use")
    parser.add_argument("--matrix", type=Path, help="the user x item matrix (.npz, scipy) of --model")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the records")
    args = parser.parse_args(argv)
    records = run(args.model, args.matrix, args.subset) if args.model else stages(args.scale, args.subset)
    print_records(records, args.json)


if __name__ == "__main__":
    main()
