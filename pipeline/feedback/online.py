"""The feedback step: load the impression log, join it with the events, and measure every live
version and experiment arm. The nightly runs it after ingest; ``recs feedback`` prints it.

What a run measured is kept as ``feedback.json`` in the model version's artifact directory
(``save``), next to report.md, whose online section (``pipeline.feedback.section``) it renders.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from pipeline.data import warehouse
from pipeline.errors import PipelineError
from pipeline.feedback import metrics, stats
from pipeline.feedback.impressions import ImpressionReport, ensure_schema, ingest_impressions
from pipeline.feedback.section import FILE, render
from pipeline.settings import PipelineSettings

EVERYTHING = datetime(1970, 1, 1)


class FeedbackError(PipelineError):
    """The feedback step cannot measure: nothing to measure, or a bad argument."""


@dataclass
class FeedbackResult:
    """One measurement: what was loaded (None when nothing was asked to load), the metrics, and a
    report per experiment the impressions name."""

    metrics: metrics.OnlineMetrics
    experiments: list[stats.ExperimentReport] = field(default_factory=list)
    loaded: ImpressionReport | None = None

    def as_dict(self) -> dict:
        return {
            "impressions_loaded": self.loaded.as_dict() if self.loaded else None,
            "online": self.metrics.as_dict(),
            "experiments": [e.as_dict() for e in self.experiments],
        }


def measure(
    con: duckdb.DuckDBPyConnection,
    settings: PipelineSettings,
    since: datetime | None = None,
    shares: dict[str, float] | None = None,
) -> FeedbackResult:
    """Online metrics since ``since`` (default: every impression) and every experiment's report;
    ``shares`` gives an experiment's treatment share, for its sample-ratio check."""
    found, units = metrics.online_metrics(con, since or EVERYTHING, settings.attribution_hours)
    reports = [
        stats.experiment_report(units, name, settings.online_test, (shares or {}).get(name))
        for name in stats.experiments(units)
    ]
    return FeedbackResult(found, reports)


def load_and_measure(
    con: duckdb.DuckDBPyConnection,
    settings: PipelineSettings,
    sources: Sequence[str],
    s3_client: Callable[[], object] | None = None,
    since: datetime | None = None,
    shares: dict[str, float] | None = None,
) -> FeedbackResult:
    """Load the impression objects under ``sources`` (none: load nothing), then ``measure``."""
    ensure_schema(con)
    loaded = ingest_impressions(con, sources, s3_client) if sources else None
    result = measure(con, settings, since, shares)
    result.loaded = loaded
    return result


def require_impressions(con: duckdb.DuckDBPyConnection, warehouse: object) -> None:
    """``FeedbackError`` unless the warehouse has an impressions table to measure."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "impressions" not in tables:
        raise FeedbackError(
            f"warehouse {warehouse} holds no impressions: load the log with "
            "`recs feedback --impressions URI`, or set impressions_uri for the nightly"
        )


def nightly_step(
    settings: PipelineSettings, s3_client: Callable[[], object], shares: dict[str, float] | None = None
) -> FeedbackResult | None:
    """The nightly's feedback: None when ``impressions_uri`` is not set. ``shares``: the treatment
    share of each experiment the table knows, for the sample-ratio checks."""
    if settings.impressions_uri is None:
        return None
    with warehouse.connect(settings.warehouse) as con:
        return load_and_measure(con, settings, [settings.impressions_uri], s3_client, shares=shares)


def save(directory: Path, result: FeedbackResult | None) -> Path | None:
    """``feedback.json`` into a version's artifact directory (nothing when there is no result)."""
    if result is None:
        return None
    path = Path(directory) / FILE
    path.write_text(json.dumps(result.as_dict(), default=str, indent=1))
    return path


def table_rows(result: FeedbackResult) -> list[dict]:
    """One flat row per reported group, for a table (Prefect's table artifact, the CLI)."""
    rows = []
    for group in result.metrics.groups:
        rows.append(
            {"grouping": "/".join(group.grouping)}
            | {k: ("-" if v is None else v) for k, v in group.key.items()}
            | {"impressions": group.impressions, "users": group.users}
            | interval("ctr", group.ctr)
            | interval("conversion", group.conversion)
            | (interval("revenue/user", group.revenue_per_user) if group.revenue_per_user else {})
            | {"mean rank": group.mean_rank}
        )
    return rows


def text(result: FeedbackResult) -> str:
    """The result for people: the report's online section, without its plot."""
    return render(result.as_dict(), None).strip()


def interval(name: str, estimate: metrics.Estimate) -> dict:
    return {name: estimate.value, f"{name} 95% CI": f"[{estimate.low:.4f}, {estimate.high:.4f}]"}
