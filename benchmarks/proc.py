"""Run one benchmark step in a fresh process, so that its peak memory (RSS) is its own."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(work: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process, result) of ``work()``."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = work()
    return time.perf_counter() - wall, cpu_seconds() - cpu, result


def _measured(work: Callable[..., dict], *args) -> dict:
    return work(*args) | {"peak_rss_mb": round(peak_rss_mb(), 1)}


def in_child(work: Callable[..., dict], *args) -> dict:
    """``work(*args)`` (a module-level function returning a dict) in a spawned process, plus its peak RSS."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_measured, work, *args).result()


def record(name: str, seconds: float, baseline: float | None, peak: float, **extra) -> dict:
    """A stage record in the shape of benchmarks/__init__.py."""
    return {
        "name": name,
        "seconds": round(seconds, 3),
        "baseline_seconds": round(baseline, 3) if baseline else None,
        "ratio": round(seconds / baseline, 3) if baseline else None,
        "peak_rss_mb": round(peak, 1),
        **extra,
    }
