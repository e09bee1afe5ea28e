"""Benchmarks: each module measures one part of the product next to the bare library
doing the same work in the same run, and returns stage records:

    {"name": str, "seconds": float, "baseline_seconds": float | None,
     "ratio": float | None, "peak_rss_mb": float, ...extra figures}

``ratio`` is seconds / baseline_seconds. ``recs bench`` (pipeline/bench/run.py)
assembles them into one table, a JSON line and a row of docs/benchmarks.md.
"""
