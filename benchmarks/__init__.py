"""Benchmarks: each module measures one part of the product next to the bare library
doing the same work in the same run, and returns stage records:

    {"name": str, "seconds": float, "baseline_seconds": float | None,
     "ratio": float | None, "peak_rss_mb": float, ...extra figures}

``ratio`` is seconds / baseline_seconds. ``recs bench`` (benchmarks/run.py)
assembles them into one table, a JSON line and a row of docs/benchmarks.md.
"""


def print_records(records: list[dict], as_json: bool = False) -> None:
    """One line of figures per stage record, then (``as_json``) one JSON line of them all."""
    import json

    for record in records:
        figures = ", ".join(f"{k}={v}" for k, v in record.items() if k != "name")
        print(f"{record['name']}: {figures}")
    if as_json:
        print(json.dumps({"stages": records}))
