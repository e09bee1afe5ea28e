"""The run report: a Markdown page with PNG plots, written into the model's artifact directory.

It is rendered from an artifact's meta (``ArtifactMeta``: the evaluation, the gate decision,
the tuning record) and the meta of past versions, so it can be re-rendered from any
artifact's meta.json.

    report.md            the decision, the metric tables, the tuning winner, links to the plots
    metrics.png          every ranking metric at the headline k: model vs baselines
    slices.png           the headline metric per slice (cold, heavy, long tail, countries)
    popularity.png       share of recommendations vs interactions by item-popularity bucket
    history.png          the headline metric of every saved version
    tuning.png           the search's best validation score so far, against trials and seconds
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.feedback.section import section as online_section
from pipeline.model.artifact import ArtifactMeta
from pipeline.model.evaluate import Evaluation

HEADLINE_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "mrr")


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (chosen at first use, not at import)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def markdown_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """A Markdown table of dict rows; floats with 4 decimals."""
    if not rows:
        return "_(none)_"
    columns = list(columns or rows[0])

    def cell(value) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def metric_rows(evaluation: Evaluation) -> list[dict]:
    """One row per scored list with the metrics at the headline k."""
    k = evaluation.k
    keys = [f"{m}@{k}" for m in HEADLINE_METRICS] + ["coverage", "popularity_rank", "users"]
    return [
        {"list": name} | {key: values.get(key) for key in keys} for name, values in evaluation.overall.items()
    ]


def slice_rows(evaluation: Evaluation) -> list[dict]:
    """One row per slice: users, and the headline metric of each list followed by the half-width
    of its 95% confidence interval (``LIST ±``, when measured)."""
    key = evaluation.headline
    rows = []
    for name, lists in evaluation.slices.items():
        row: dict = {"slice": name, "users": next(iter(lists.values()))["users"]}
        for lst, m in lists.items():
            row[f"{lst} {key}"] = m[key]
            if f"{key}_ci95" in m:
                row[f"{lst} ±"] = m[f"{key}_ci95"]
        rows.append(row)
    return rows


def plot_metrics(evaluation: Evaluation, path: Path) -> Path:
    plt = _pyplot()
    k, names = evaluation.k, list(evaluation.overall)
    x = np.arange(len(HEADLINE_METRICS))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(9, 4))
    for i, name in enumerate(names):
        values = [evaluation.overall[name][f"{m}@{k}"] for m in HEADLINE_METRICS]
        ax.bar(x + i * width, values, width, label=name)
    ax.set_xticks(x + width * (len(names) - 1) / 2, [f"{m}@{k}" for m in HEADLINE_METRICS])
    ax.set_title("Holdout metrics: model vs baselines")
    ax.legend()
    return _save(fig, path)


def plot_slices(evaluation: Evaluation, path: Path) -> Path:
    plt = _pyplot()
    key = evaluation.headline
    slices = list(evaluation.slices)
    names = [n for n in evaluation.overall if any(n in lists for lists in evaluation.slices.values())]
    y = np.arange(len(slices))
    height = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(slices) + 1.5))
    for i, name in enumerate(names):
        values = [evaluation.slices[s].get(name, {}).get(key, 0.0) for s in slices]
        errors = [evaluation.slices[s].get(name, {}).get(f"{key}_ci95", 0.0) for s in slices]
        ax.barh(y + i * height, values, height, xerr=errors, capsize=2, label=name)
    ax.set_yticks(
        y + height * (len(names) - 1) / 2, [f"{s}\n({_slice_users(evaluation, s)} users)" for s in slices]
    )
    ax.invert_yaxis()
    ax.set_xlabel(key)
    ax.set_title("Per slice: model vs baselines")
    ax.legend()
    return _save(fig, path)


def _slice_users(evaluation: Evaluation, name: str) -> int:
    return int(next(iter(evaluation.slices[name].values()))["users"])


def plot_popularity(evaluation: Evaluation, path: Path) -> Path:
    plt = _pyplot()
    curve = evaluation.curve
    fig, ax = plt.subplots(figsize=(9, 4))
    for name, shares in curve.items():
        if name != "bucket":
            ax.plot(
                curve["bucket"],
                shares,
                marker="o",
                ms=3,
                label=name,
                lw=2.5 if name == "interactions" else 1.5,
            )
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("item popularity percentile (most popular on the left)")
    ax.set_ylabel("share")
    ax.set_title("Popularity: recommended vs interacted items")
    ax.legend()
    return _save(fig, path)


def history_points(metas: Sequence[ArtifactMeta], headline: str) -> list[dict]:
    """(version, headline metric of the model, of popular, status) for each version that has them."""
    return [
        {
            "version": meta.version,
            "model": meta.metrics["model"][headline],
            "popular": meta.metrics.get("popular", {}).get(headline),
            "status": meta.status,
        }
        for meta in metas
        if headline in meta.metrics.get("model", {})
    ]


def plot_history(points: Sequence[dict], headline: str, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(points))
    ax.plot(x, [p["model"] for p in points], marker="o", label="model")
    ax.plot(x, [p["popular"] or np.nan for p in points], marker=".", ls="--", label="popular")
    refused = [i for i, p in enumerate(points) if p["status"] == "refused"]
    ax.scatter(
        refused, [points[i]["model"] for i in refused], marker="x", s=80, c="red", label="refused", zorder=3
    )
    ax.set_xticks(x, [p["version"][:15] for p in points], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(headline)
    ax.set_title(f"{headline} across versions")
    ax.legend()
    return _save(fig, path)


def plot_tuning(trials: Sequence[dict], metric: str, path: Path) -> Path:
    """Best validation score so far against the trial number and against seconds since the start;
    every trial's own score as dots (pruned trials as crosses, at their last reported score)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
    best = [np.nan if t.get("best_so_far") is None else t["best_so_far"] for t in trials]
    own = [np.nan if t.get(metric) is None else t[metric] for t in trials]
    pruned = [t.get("state") == "pruned" for t in trials]
    for ax, x, label in ((axes[0], [t["trial"] for t in trials], "trial"),
                         (axes[1], [t.get("elapsed", 0.0) for t in trials], "seconds")):  # fmt: skip
        ax.step(x, best, where="post", label="best so far")
        for keep, marker, name in ((False, "o", "trial"), (True, "x", "pruned")):
            chosen = [i for i, p in enumerate(pruned) if p == keep]
            ax.scatter([x[i] for i in chosen], [own[i] for i in chosen], s=14, marker=marker, label=name)
        ax.set_xlabel(label)
    axes[0].set_ylabel(f"validation {metric}")
    axes[0].legend()
    fig.suptitle("Parameter search")
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    fig.clf()
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def render_markdown(meta: ArtifactMeta, history: Sequence[dict], plots: dict, examples: str = "") -> str:
    """The report's Markdown text; ``plots`` maps a plot name to its file name; ``examples`` is the
    example lists' section (``examples.markdown``), shown after the slices."""
    evaluation, gate, tuning = meta.evaluation, meta.gate, meta.tuning
    headline = evaluation.headline
    decision = "PASSED" if gate.passed else "REFUSED"
    parts = [
        f"# Run report: model {meta.version}",
        f"**Quality gate {decision}**: {gate.reason}",
        markdown_table(
            [c.model_dump() for c in gate.checks], ["name", "value", "needed", "passed", "detail"]
        ),
        f"## Holdout metrics at k={evaluation.k}",
        *_sample_note(evaluation),
        markdown_table(metric_rows(evaluation)),
        f"![metrics]({plots['metrics']})",
        f"## Slices ({headline})",
        markdown_table(slice_rows(evaluation)),
        f"![slices]({plots['slices']})",
        *([examples] if examples else []),
        "## Popularity of recommended vs interacted items",
        f"![popularity]({plots['popularity']})",
    ]
    if tuning.source != "configured":
        where = f" (reused from {tuning.from_version})" if tuning.source == "reused" else ""
        parts += [
            f"## Tuning: {tuning.source}{where}, {len(tuning.trials)} trials, "
            f"metric {tuning.metric} on a validation split of the training data",
            f"Winner: `{tuning.best.model_dump()}`",
            *_search_note(tuning.sampled_users),
            markdown_table(tuning.trials),
            *([f"![tuning]({plots['tuning']})"] if "tuning" in plots else []),
        ]
    parts += [
        f"## {headline} across versions",
        markdown_table(history, ["version", "model", "popular", "status"]),
    ]
    if "history" in plots:
        parts.append(f"![history]({plots['history']})")
    return "\n\n".join(parts) + "\n"


def _search_note(sampled_users: int | None) -> list[str]:
    """A line saying that the search's trials saw a sample of the users, when they did."""
    if sampled_users is None:
        return []
    return [f"Trials fitted on a seeded sample of {sampled_users:,} training users (`tuning.max_users`)."]


def _sample_note(evaluation: Evaluation) -> list[str]:
    """A line saying that the holdout was measured on a sample, and on how many users, when it was."""
    if evaluation.sampled_from is None:
        return []
    users = int(evaluation.overall["model"]["users"])
    return [
        f"Measured on a seeded sample of {users:,} of the {evaluation.sampled_from:,} held-out users "
        f"(`eval_max_users`); `±` columns and `{evaluation.headline}_ci95` are 95% intervals."
    ]


def write_report(
    directory: Path, meta: ArtifactMeta, past: Sequence[ArtifactMeta] = (), examples: str = ""
) -> Path:
    """Write report.md and its plots into ``directory`` (the version's artifact); returns report.md.

    ``past`` is the meta of earlier versions (``artifact.history``); this run is appended to it.
    ``examples``: the example lists' Markdown section, if any.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    evaluation = meta.evaluation
    points = history_points([m for m in past if m.version != meta.version] + [meta], evaluation.headline)
    if points and points[-1]["version"] == meta.version and meta.status == "passed":
        points[-1]["status"] = "candidate"  # passed the gate; not necessarily published yet
    plots = {
        "metrics": plot_metrics(evaluation, directory / "metrics.png").name,
        "slices": plot_slices(evaluation, directory / "slices.png").name,
        "popularity": plot_popularity(evaluation, directory / "popularity.png").name,
    }
    if points:
        plots["history"] = plot_history(points, evaluation.headline, directory / "history.png").name
    if meta.tuning.source == "search" and any("best_so_far" in t for t in meta.tuning.trials):
        plots["tuning"] = plot_tuning(
            meta.tuning.trials, meta.tuning.metric or "", directory / "tuning.png"
        ).name
    path = directory / "report.md"
    path.write_text(render_markdown(meta, points, plots, examples) + online_section(directory))
    return path
