"""``recs bench``: the whole nightly job on a synthetic log, stage by stage, next to the bare libraries.

    recs bench [--scale tiny|small|medium|large] [--only GROUP ...] [--json]

Groups, in the flow's order (each module returns stage records, see ``benchmarks/``):

- ``data``: ingest vs DuckDB's bare load, holdout split, interactions matrix (benchmarks/data.py);
- ``train``: ``train.fit`` vs a bare implicit fit with the same parameters (benchmarks/train.py);
- ``topk``: top-k for all users and similar items vs the matrix product (benchmarks/topk.py),
  on the model the ``train`` group fitted;
- ``evaluate``: evaluation vs implicit's ``ranking_metrics_at_k`` (benchmarks/evaluate.py);
- ``publish``: publish vs a bare boto3 ``batch_writer`` on a local moto server, on a subset
  of users (benchmarks/publish.py);
- ``api``: the Lambda handler's latency (benchmarks/api.py);
- ``warm``: the served model warm-started from the holdout model vs a cold fit (benchmarks/warm.py);
- ``flow``: the real nightly flow end to end, stages from Prefect's task-run records, publishing
  next to a bare batch_writer loop (benchmarks/flow.py).
- ``peer`` (only when named, needs the ``peer`` extra): Spark MLlib's ALS on the same data,
  tuned comparably: fit, top-k for all users and nDCG@10 side by side (benchmarks/peer.py).

The last record, ``nightly flow (estimate)``, adds up the measured stages the flow runs
(training twice: the holdout model and the served one) with publish extrapolated to all
rows on real-DynamoDB terms (a new on-demand table absorbs 4,000 writes/s). The figures
are written as JSON (``var/bench/``) and appended as a row to ``docs/benchmarks.md``.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import import_module, metadata
from pathlib import Path

GROUPS = ("data", "train", "topk", "evaluate", "publish", "api", "warm", "flow", "peer")
DEFAULT_GROUPS = GROUPS[:-1]  # peer (Spark MLlib side by side) needs the peer extra: only with --only
DYNAMODB_WRITES_PER_S = 4_000  # a new on-demand table's initial write throughput (1 KB rows)
LIBRARIES = ("numpy", "scipy", "implicit", "numba", "duckdb", "boto3", "prefect", "fastapi")


def machine() -> dict:
    """Cores, memory and library versions, for the history row."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(memory, 1),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "versions": versions,
    }


def _other(module: str, scale: str) -> list[dict]:
    """Records of another benchmark module's ``stages(scale)``; a note record when it is missing."""
    try:
        stages: Callable[[str], list[dict]] = import_module(f"benchmarks.{module}").stages
    except (ImportError, AttributeError) as err:
        return [_note(f"{module}: not measured", f"benchmarks.{module}.stages is missing: {err}")]
    try:
        return stages(scale)
    except KeyError:
        return [_note(f"{module}: not measured", f"benchmarks.{module} has no scale {scale!r}")]


def _note(name: str, note: str) -> dict:
    return {
        "name": name,
        "seconds": None,
        "baseline_seconds": None,
        "ratio": None,
        "peak_rss_mb": None,
        "note": note,
    }


def _model_groups(scale: str, groups: set[str], workdir: Path) -> list[dict]:
    """train and topk on one matrix and one model."""
    from benchmarks import topk, train
    from benchmarks.proc import in_child

    matrix, model = workdir / "matrix.npz", workdir / "model.npz"
    shape = in_child(train.write_matrix, scale, matrix)
    records = []
    if "train" in groups:
        records += [
            r | shape for r in train.run(matrix, model, repeats=1 if scale in ("tiny", "large") else 2)
        ]
    else:
        in_child(train.fit_ours, str(matrix), str(model))
    if "topk" in groups:
        records += topk.run(model, matrix)
    return records


def _find(records: list[dict], prefix: str) -> dict | None:
    return next((r for r in records if r["name"].startswith(prefix) and r.get("seconds") is not None), None)


def flow_estimate(records: list[dict], users: int | None, items: int | None) -> dict:
    """The nightly flow's time from its measured stages; publish extrapolated to every row."""
    parts = {
        "ingest": _find(records, "data: ingest"),
        "holdout split": _find(records, "data: holdout split"),
        "interactions": _find(records, "data: interactions"),
        "train x2": _find(records, "train:"),
        "top-k": _find(records, "top-k all users"),
        "similar items": _find(records, "similar items"),
    }
    seconds = {name: r["seconds"] * (2 if name == "train x2" else 1) for name, r in parts.items() if r}
    missing = sorted(name for name, r in parts.items() if not r)
    rows = (users or 0) + (items or 0)
    if rows:
        seconds["publish (real DynamoDB terms)"] = rows / DYNAMODB_WRITES_PER_S
    peaks = [r["peak_rss_mb"] for r in records if r.get("peak_rss_mb")]
    return {
        "name": "nightly flow (estimate)",
        "seconds": round(sum(seconds.values()), 1),
        "baseline_seconds": None,
        "ratio": None,
        "peak_rss_mb": max(peaks, default=None),
        "parts": {k: round(v, 1) for k, v in seconds.items()},
        "missing": missing,
        "note": "sum of the measured stages; training counted twice (holdout + served model); "
        f"publish = {rows} rows / {DYNAMODB_WRITES_PER_S} writes/s",
    }


def run(scale: str = "small", only: list[str] | None = None, workdir: Path | None = None) -> dict:
    """Every group's records for ``scale``, plus the flow estimate and the machine."""
    groups = set(only or DEFAULT_GROUPS)
    unknown = groups - set(GROUPS)
    if unknown:
        raise ValueError(f"--only must name groups among {GROUPS}, got {sorted(unknown)}")
    started = time.perf_counter()
    records: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="recs-bench-") as tmp:
        folder = Path(workdir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if "data" in groups:
            records += _other("data", scale)
        if groups & {"train", "topk"}:
            records += _model_groups(scale, groups, folder)
        for group in ("evaluate", "publish", "api", "warm", "flow", "peer"):
            if group in groups:
                records += _other(group, scale)
    shape = _find(records, "top-k all users") or _find(records, "train:") or {}
    estimate = flow_estimate(records, shape.get("users"), shape.get("items"))
    if estimate["parts"]:  # none with --only flow (or warm): the flow's own record says it all
        records.append(estimate)
    return {
        "scale": scale,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "bench_seconds": round(time.perf_counter() - started, 1),
        "stages": records,
    }


def table(result: dict) -> str:
    """The records as a fixed-width table."""

    def cell(value, fmt):
        return "-" if value is None else format(value, fmt)

    lines = [f"{'stage':62} {'seconds':>9} {'baseline':>9} {'ratio':>7} {'peak MB':>8}"]
    for r in result["stages"]:
        lines.append(
            f"{r['name'][:62]:62} {cell(r['seconds'], '9.3f')} {cell(r['baseline_seconds'], '9.3f')} "
            f"{cell(r['ratio'], '7.2f')} {cell(r['peak_rss_mb'], '8.0f')}"
        )
    return "\n".join(lines)


def history_row(result: dict) -> str:
    """One Markdown row: date, scale, machine, the headline ratios and the flow estimate."""
    m = result["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)

    def ratio(prefix: str) -> str:
        r = _find(result["stages"], prefix)
        return f"{r['seconds']:.1f} s ({r['ratio']:.2f}x)" if r and r.get("ratio") else "-"

    flow = _find(result["stages"], "nightly flow")
    return (
        f"| {result['date'][:16]} | {result['scale']} | {m['cores']} cores, {m['memory_gb']} GB | "
        f"{ratio('data: ingest')} | {ratio('train:')} | {ratio('top-k all users')} | "
        f"{ratio('publish (')} | {flow['seconds'] if flow else '-'} s | "
        f"{flow['peak_rss_mb'] if flow else '-'} MB | {versions} |"
    )


def save(result: dict, out_dir: Path = Path("var/bench"), history: Path = Path("docs/benchmarks.md")) -> Path:
    """Write the JSON figures and append the history row; returns the JSON file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"bench-{result['scale']}-{result['date'].replace(':', '')}.json"
    path.write_text(json.dumps(result, indent=1, default=str))
    if history.exists():
        history.write_text(with_history_row(history.read_text(), history_row(result)))
    return path


def with_history_row(page: str, row: str) -> str:
    """The page with `row` after the last row of the table under "## History" (notes on
    single runs may follow it); a page without that heading gets the row at its end."""
    lines = page.splitlines()
    heading = next((i for i, line in enumerate(lines) if line.strip() == "## History"), None)
    start = None
    if heading is not None:
        start = next((i for i in range(heading, len(lines)) if lines[i].startswith("|")), None)
    if start is None:
        return page.rstrip("\n") + "\n" + row + "\n"
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join([*lines[:end], row, *lines[end:]]) + "\n"
