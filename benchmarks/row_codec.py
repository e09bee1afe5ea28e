"""Row encoding at publish: layout 2 (``writer.version_rows``) next to layout 1, the same version.

Layout 1 is the row layout before rows were fitted to one write unit (JSON arrays, each row's
category paths with indexes); ``layout_1_rows`` is a frozen copy of that encoder, also used by
the tests that check both layouts give the API the same answers. The version is
``benchmarks.publish.synthetic_version`` (stock-code ids, k = 50) with 10 candidates and a
category for each item; both encoders run interleaved, best of ``repeats``.

    python -m benchmarks.row_codec [--users 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Iterator

import numpy as np

import contract
from benchmarks import print_records
from pipeline.precompute.recommend import Precomputed
from pipeline.publish import writer

CATEGORIES = ("home/kitchen", "home/decor", "home/lighting", "jewellery", "stationery", "bags", "christmas")


def layout_1_rows(version: str, pre: Precomputed, expires_at: int) -> Iterator[dict]:
    """The version's rows as the layout-1 writer encoded them (users, items, popular lists)."""
    kinds = [(contract.user_pk(u), pre.users, r) for r, u in enumerate(pre.user_ids.tolist())]
    kinds += [(contract.item_pk(i), pre.similar, r) for r, i in enumerate(pre.item_ids.tolist())]
    kinds += [(contract.popular_pk(s), pre.popular[s], 0) for s in sorted(pre.popular)]
    for pk, top, r in kinds:
        ids, scores = top.row(r)
        row = {
            "pk": {"S": pk},
            "sk": {"S": version},
            "items": {"S": json.dumps(pre.item_ids[ids].tolist(), separators=(",", ":"))},
            "scores": {"S": "[" + ("%.4g," * len(scores) % tuple(scores.tolist()))[:-1] + "]"},
            "expires_at": {"N": str(expires_at)},
            "schema": {"N": "1"},
        }
        if pre.categories is not None:
            cats = [pre.categories[i] for i in ids.tolist()]
            names = list(dict.fromkeys(c for c in cats if c is not None))
            positions = [names.index(c) if c is not None else -1 for c in cats]
            row["cats"] = {"S": _compact([names, positions])}
        if pk.startswith("item#") and pre.names is not None:
            category = pre.categories[r] if pre.categories is not None else None
            row["about"] = {"S": _compact([pre.names[r], category])}
        yield row


def _compact(value: list) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def version_with_categories(users: int) -> Precomputed:
    """``synthetic_version`` 60 items deep (k = 50 and 10 candidates), each item with a category."""
    from benchmarks.publish import synthetic_version  # it imports boto3 and the local AWS

    pre = synthetic_version(users, k=60)
    categories = np.array([CATEGORIES[j % len(CATEGORIES)] for j in range(len(pre.item_ids))], dtype=object)
    return dataclasses.replace(pre, k=50, categories=categories)


def encode_stage(users: int, repeats: int = 3) -> dict:
    """Seconds to encode every row of the version, layout 2 against layout 1 (the baseline)."""
    from benchmarks.publish import _best_of

    pre = version_with_categories(users)
    runs: dict[str, Callable[[], list[dict]]] = {
        "layout 2": lambda: list(writer.version_rows("20261122T021500Z-3f9a1c", pre, 1_790_000_000)),
        "layout 1": lambda: list(layout_1_rows("20261122T021500Z-3f9a1c", pre, 1_790_000_000)),
    }
    best = _best_of(repeats, dict(runs))
    sizes = {name: _user_row_sizes(rows(), len(pre.user_ids)) for name, rows in runs.items()}
    return {
        "name": "row encoding at publish: layout 2 vs layout 1, 60 items with categories",
        "seconds": round(best["layout 2"], 4),
        "baseline_seconds": round(best["layout 1"], 4),
        "ratio": round(best["layout 2"] / best["layout 1"], 2),
        "rows": pre.n_rows,
        "rows_per_second": round(pre.n_rows / best["layout 2"]),
        "user_row_bytes_mean_max": sizes["layout 2"],
        "baseline_user_row_bytes_mean_max": sizes["layout 1"],
    }


def _user_row_sizes(rows: list[dict], users: int) -> tuple[float, int]:
    sizes = [contract.item_size(r) for r in rows[:users]]
    return round(float(np.mean(sizes)), 1), max(sizes)


def main(argv: list[str] | None = None) -> None:
    description = __doc__.splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.row_codec", description=description)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the records")
    args = parser.parse_args(argv)
    print_records([encode_stage(args.users, args.repeats)], args.json)


if __name__ == "__main__":
    main()
