"""Exact top-k by inner product, for every query row, with excluded items per row.

This is the hot path of precompute (about 25 billion scores for 500k users x 50k
items). The scores are computed tile by tile with BLAS (one thread per worker) and
each tile is scanned while it is still in cache: a vectorised max over chunks of
32 scores skips every chunk that cannot beat the row's current k-th best, and the
few that can go into a k-sized heap. Items are scanned in descending order of
their factor norm so that the threshold rises early and few items reach the heap.
Excluded (already seen) items are looked up only for those few candidates.

Ranking rule, everywhere: higher score first, then lower item index, so results
are deterministic and equal a stable argsort of the negated scores.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

_ONE_AT_A_TIME = threading.Lock()
CHUNK = 32  # scores per vectorised max in the pre-check
GROUP = 8  # scores per group in the first tile's probe of the k-th best
LOWEST = np.float32(-np.finfo(np.float32).max)

# fastmath lets LLVM vectorise the chunk max; scores are finite (train checks the factors)
_jit = numba.njit(nogil=True, cache=True, fastmath=True)


@numba.njit(nogil=True, cache=True, fastmath=True, inline="always")
def _key(score, item):
    """One uint64 that orders like the ranking rule: score bits (order-preserving), then the
    complement of the item index, so a larger key is a better (score, item) pair."""
    bits = np.uint64(np.float32(score).view(np.uint32))
    if bits == np.uint64(0x80000000):  # -0.0 ranks as 0.0
        bits = np.uint64(0)
    bits = bits ^ np.uint64(0xFFFFFFFF) if bits & np.uint64(0x80000000) else bits | np.uint64(0x80000000)
    return (bits << np.uint64(32)) | (np.uint64(0xFFFFFFFF) ^ np.uint64(item))


@numba.njit(nogil=True, cache=True, fastmath=True, inline="always")
def _unkey(key):
    high = key >> np.uint64(32)
    high = high ^ np.uint64(0x80000000) if high & np.uint64(0x80000000) else high ^ np.uint64(0xFFFFFFFF)
    return np.int32(np.uint64(0xFFFFFFFF) ^ (key & np.uint64(0xFFFFFFFF))), np.uint32(high).view(np.float32)


@numba.njit(nogil=True, cache=True, fastmath=True, inline="always")
def _sift_down(heap, size, key):
    """Place ``key`` at the root of a min-heap of ``size`` keys and restore the heap."""
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and heap[child + 1] < heap[child]:
            child += 1
        if heap[child] >= key:
            break
        heap[pos] = heap[child]
        pos = child
    heap[pos] = key


@numba.njit(nogil=True, cache=True, fastmath=True, inline="always")
def _push(heap, size, k, key):
    """Offer ``key`` to the min-heap of the k best keys so far; returns the new size."""
    if size == k:
        _sift_down(heap, size, key)
        return size
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if heap[parent] <= key:
            break
        heap[pos] = heap[parent]
        pos = parent
    heap[pos] = key
    return size + 1


@numba.njit(nogil=True, cache=True, fastmath=True, inline="always")
def _probe_floor(scores, k, maxima):
    """A lower bound of the row's k-th best score: the k-th largest maximum of groups of
    GROUP scores (k distinct scores reach it). ``LOWEST`` when there are too few groups."""
    groups = scores.shape[0] // GROUP
    if groups < k:
        return LOWEST
    for g in range(groups):
        best = scores[g * GROUP]
        for c in range(g * GROUP + 1, (g + 1) * GROUP):
            best = max(best, scores[c])
        maxima[g] = best
    return np.partition(maxima[:groups], groups - k)[groups - k]


@_jit
def _scan_tile(tile, col0, order, seen, seen_at, seen_end, heaps, floors, sizes, maxima):
    """Offer every score of ``tile`` (a block's rows x scan positions col0..) to the rows' heaps.

    ``seen[seen_at[r]:seen_end[r]]`` are row r's excluded scan positions not yet passed, sorted;
    they are masked first. Only scores >= ``floors[r]`` can enter row r's top k: the floor starts
    as a probe of the first tile and is then the score of the heap's root (the k-th best so far).
    """
    rows, cols = tile.shape
    k = heaps.shape[1]
    full = cols - cols % CHUNK
    for r in range(rows):
        scores, heap = tile[r], heaps[r]
        at = seen_at[r]
        while at < seen_end[r] and seen[at] < col0 + cols:
            scores[seen[at] - col0] = LOWEST
            at += 1
        seen_at[r] = at
        size, floor = sizes[r], floors[r]
        if col0 == 0:
            floor = max(floor, _probe_floor(scores, k, maxima))
        for c0 in range(0, cols, CHUNK):
            if c0 < full:
                best = scores[c0]
                for c in range(c0 + 1, c0 + CHUNK):
                    best = max(best, scores[c])
                if best < floor:
                    continue
            for c in range(c0, min(c0 + CHUNK, cols)):
                if scores[c] < floor:
                    continue
                key = _key(scores[c], order[col0 + c])
                if size == k and key <= heap[0]:
                    continue
                size = _push(heap, size, k, key)
                if size == k:
                    floor = _unkey(heap[0])[1]
        sizes[r], floors[r] = size, floor


@_jit
def _drain(heaps, sizes, out_ids, out_scores):
    """Pop each heap into its output row, best first; -1 pads rows with fewer than k entries."""
    for r in range(heaps.shape[0]):
        size, heap = sizes[r], heaps[r]
        out_ids[r, size:] = -1
        out_scores[r, size:] = 0.0
        while size > 0:
            out_ids[r, size - 1], out_scores[r, size - 1] = _unkey(heap[0])
            size -= 1
            if size > 0:
                _sift_down(heap, size, heap[size])


@_jit
def _rescore(query, items, position, out_ids, out_scores):
    """Each chosen item's score again, as a float64 sum in factor order, and the row re-sorted.

    BLAS rounds a score differently depending on where its row sits in a block, so this
    makes the published scores (and their order) independent of blocks, threads and shards.
    """
    for r in range(out_ids.shape[0]):
        n = 0
        while n < out_ids.shape[1] and out_ids[r, n] >= 0:
            v = items[position[out_ids[r, n]]]
            total = 0.0
            for f in range(query.shape[1]):
                total += np.float64(query[r, f]) * np.float64(v[f])
            out_scores[r, n] = np.float32(total)
            n += 1
        for a in range(1, n):  # nearly sorted already: a few swaps at most
            s, i = out_scores[r, a], out_ids[r, a]
            b = a
            while b > 0 and (
                out_scores[r, b - 1] < s or (out_scores[r, b - 1] == s and out_ids[r, b - 1] > i)
            ):
                out_scores[r, b], out_ids[r, b] = out_scores[r, b - 1], out_ids[r, b - 1]
                b -= 1
            out_scores[r, b], out_ids[r, b] = s, i


@_jit
def _seen_positions(indptr, indices, position, row0, rows):
    """Each block row's excluded items as sorted scan positions (flat, with start/end per row)."""
    start, stop = indptr[row0], indptr[row0 + rows]
    seen = np.empty(stop - start, np.int32)
    seen_at = np.empty(rows, np.int64)
    seen_end = np.empty(rows, np.int64)
    for r in range(rows):
        lo, hi = indptr[row0 + r] - start, indptr[row0 + r + 1] - start
        for p in range(lo, hi):
            seen[p] = position[indices[start + p]]
        seen[lo:hi].sort()
        seen_at[r], seen_end[r] = lo, hi
    return seen, seen_at, seen_end


@_jit
def _block_top_k(
    query, items, order, position, indptr, indices, row0, k, tile_items, buffer, out_ids, out_scores
):
    """Top k of ``query`` rows row0.. (a block) against all ``items`` (in scan order)."""
    rows = query.shape[0]
    seen, seen_at, seen_end = _seen_positions(indptr, indices, position, row0, rows)
    heaps = np.empty((rows, k), np.uint64)
    floors = np.full(rows, np.nextafter(LOWEST, np.float32(0)), np.float32)  # LOWEST marks excluded
    sizes = np.zeros(rows, np.int64)
    maxima = np.empty(tile_items // GROUP + 1, np.float32)
    for col0 in range(0, items.shape[0], tile_items):
        tile_v = items[col0 : col0 + tile_items]
        tile = buffer[: rows * tile_v.shape[0]].reshape(rows, tile_v.shape[0])
        np.dot(query, tile_v.T, tile)
        _scan_tile(tile, col0, order, seen, seen_at, seen_end, heaps, floors, sizes, maxima)
    _drain(heaps, sizes, out_ids, out_scores)
    _rescore(query, items, position, out_ids, out_scores)


def _exclusions(exclude: sp.csr_matrix | None, n_rows: int, n_items: int) -> sp.csr_matrix:
    if exclude is None:
        return sp.csr_matrix((n_rows, n_items), dtype=np.float32)
    if exclude.shape != (n_rows, n_items):
        raise ValueError(
            f"exclude must have one row per query row and one column per item, "
            f"expected {(n_rows, n_items)}, got {exclude.shape}"
        )
    return sp.csr_matrix(exclude)


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def top_k(
    query: np.ndarray,
    items: np.ndarray,
    k: int,
    exclude: sp.csr_matrix | None = None,
    threads: int | None = None,
    block_rows: int = 512,
    tile_items: int = 512,
    scan_by_norm: bool = True,
    on_block: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k highest ``query @ items.T`` scores per query row, skipping the row's ``exclude`` items.

    Returns ``(ids, scores)``, both (n_query, k): int32 item indices (``-1`` pads a
    row with fewer than k allowed items) and float32 scores, best first. ``threads``
    workers (default: every core) take blocks of ``block_rows`` rows; each scores
    ``tile_items`` items at a time (512 x 512 float32 = 1 MiB, measured fastest on a
    2-core machine: see docs/benchmarks.md). ``on_block``, if given, is called on this thread with
    the number of query rows of each finished block (a progress bar's ``update``).
    """
    if query.ndim != 2 or items.ndim != 2 or query.shape[1] != items.shape[1]:
        raise ValueError(
            "query and items must be 2-D with the same number of factors, "
            f"got {query.shape} and {items.shape}"
        )
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    n_rows, n_items = query.shape[0], items.shape[0]
    k = min(k, n_items)
    exclude = _exclusions(exclude, n_rows, n_items)
    # whole blocks only (zero rows pad the last): BLAS then takes the same code path for every
    # row, so a row's scores do not depend on which other rows share its block or shard
    padded = -(-n_rows // block_rows) * block_rows
    query = np.vstack(
        [np.asarray(query, np.float32), np.zeros((padded - n_rows, query.shape[1]), np.float32)]
    )
    order = (
        np.argsort(-np.linalg.norm(items, axis=1), kind="stable").astype(np.int32)
        if scan_by_norm
        else np.arange(n_items, dtype=np.int32)
    )
    items = np.ascontiguousarray(items[order], dtype=np.float32)
    position = np.empty(n_items, np.int32)
    position[order] = np.arange(n_items, dtype=np.int32)
    indptr = np.concatenate([exclude.indptr, np.full(padded - n_rows, exclude.indptr[-1])]).astype(np.int64)
    indices = exclude.indices.astype(np.int32)
    ids = np.empty((padded, k), np.int32)
    scores = np.empty((padded, k), np.float32)
    tile_items = min(tile_items, n_items)
    threads = threads or default_threads()

    def run_block(start: int) -> int:
        stop = start + block_rows
        buffer = np.empty(block_rows * tile_items, np.float32)
        _block_top_k(
            query[start:stop], items, order, position, indptr, indices, start, k, tile_items, buffer,
            ids[start:stop], scores[start:stop],
        )  # fmt: skip
        return max(0, min(block_rows, n_rows - start))  # the padding rows are not the caller's

    # one call at a time per process: the BLAS thread limit is process-wide, and a concurrent
    # call leaving its ``threadpool_limits`` would hand this one a multi-threaded BLAS, which
    # splits the product differently and changes the last bit of some scores
    with _ONE_AT_A_TIME, threadpool_limits(1, "blas"), ThreadPoolExecutor(threads) as pool:
        for rows in pool.map(run_block, range(0, padded, block_rows)):
            if on_block is not None:
                on_block(rows)
    return ids[:n_rows], scores[:n_rows]
