"""The run report's online section: what users did with each version's answers, and each experiment's verdict.

Rendered from the ``feedback.json`` a run saved into the version's artifact directory
(``pipeline.feedback.online.save``), so it can be re-rendered from the directory alone; a
directory without one gets no section.
"""

from __future__ import annotations

import json
from pathlib import Path

FILE = "feedback.json"
PLOT = "experiments.png"


def section(directory: Path) -> str:
    """The Markdown section for the artifact ``directory`` (after a blank line), "" when the run
    measured nothing online."""
    path = Path(directory) / FILE
    if not path.is_file():
        return ""
    return "\n" + render(json.loads(path.read_text()), Path(directory))


def render(result: dict, plots: Path | None) -> str:
    """The section from ``FeedbackResult.as_dict()``; its plot written into ``plots`` when given."""
    online = result["online"]
    parts = [
        f"## Online: what users did next (attribution window {online['window_hours']} h)",
        events_line(online["events"]),
        table([g for g in online["groups"] if g["grouping"] == ["version"]], "version"),
        table([g for g in online["groups"] if g["grouping"] == ["experiment", "arm"]], "experiment / arm"),
    ]
    for experiment in result["experiments"]:
        parts += experiment_lines(experiment)
    if result["experiments"] and plots is not None:
        parts.append(f"![experiments]({plot(result['experiments'], plots / PLOT).name})")
    return "\n\n".join(parts) + "\n"


def events_line(events: dict | None) -> str:
    if not events:
        return "_(no events)_"
    line = (
        f"{events['events']} events since the first answer: {events['with_known_rec_id']} with a known "
        f"rec_id, {events['without_rec_id']} without one, **{events['with_unknown_rec_id']} with a "
        "rec_id no logged answer has**"
    )
    examples = ", ".join(f"`{e}`" for e in events.get("unknown_examples", []))
    return line + (f" (e.g. {examples})" if examples else "")


def table(groups: list[dict], title: str) -> str:
    if not groups:
        return f"_(no answers by {title})_"
    header = "impressions | users | CTR [95% CI] | conversion [95% CI] | revenue/user | mean rank"
    lines = [f"| {title} | {header} |", "|---|---|---|---|---|---|---|"]
    for g in groups:
        name = " / ".join("-" if v is None else str(v) for v in g["key"].values())
        revenue = ci(g["revenue_per_user"]) if g["revenue_per_user"] else "-"
        rank = f"{g['mean_rank']:.2f}" if g["mean_rank"] is not None else "-"
        cells = [name, g["impressions"], g["users"], ci(g["ctr"]), ci(g["conversion"]), revenue, rank]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def ci(estimate: dict) -> str:
    return f"{estimate['value']:.4f} [{estimate['low']:.4f}, {estimate['high']:.4f}]"


def experiment_lines(report: dict) -> list[str]:
    winner = report["winner"]
    verdict = f"**{winner} wins** on {report['primary']}" if winner else f"no winner on {report['primary']}"
    lines = [f"### Experiment {report['experiment']}: {verdict}"]
    srm = report["sample_ratio"]
    if srm:
        state = "**MISMATCH: do not trust this experiment**" if srm["mismatch"] else "ok"
        users = f"{srm['control_users']} control / {srm['treatment_users']} treatment users"
        lines.append(
            f"Sample ratio: {users} for a share of {srm['expected_share']}: p={srm['p_value']:.3g}, {state}"
        )
    rows = [
        "| metric | control | treatment | lift [95% CI] | p (Welch) | note |",
        "|---|---|---|---|---|---|",
    ]
    for c in report["comparisons"]:
        lift = f"{c['lift']:+.1%} [{c['lift_low']:+.1%}, {c['lift_high']:+.1%}]"
        cells = [
            c["metric"],
            ci(c["control"]),
            ci(c["treatment"]),
            lift,
            f"{c['p_value']:.3g}",
            c["warning"] or "",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return lines + ["\n".join(rows)]


def plot(experiments: list[dict], path: Path) -> Path:
    """Each experiment's arms on the primary metric, with their 95% intervals."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.8 * len(experiments) + 1.5))
    for row, report in enumerate(experiments):
        primary = next((c for c in report["comparisons"] if c["metric"] == report["primary"]), None)
        if primary is None:
            continue
        for offset, arm in ((-0.15, "control"), (0.15, "treatment")):
            e = primary[arm]
            ax.errorbar(
                e["value"],
                row + offset,
                xerr=[[e["value"] - e["low"]], [e["high"] - e["value"]]],
                fmt="o",
                capsize=4,
                color="C0" if arm == "control" else "C1",
                label=arm if row == 0 else None,
            )
    ax.set_yticks(range(len(experiments)), [r["experiment"] for r in experiments])
    ax.set_xlabel(experiments[0]["primary"] + " per arm, 95% interval over users")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
