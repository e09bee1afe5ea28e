"""Data quality: what one run saw, from its ingest counts to the training matrix."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import duckdb

from pipeline.data.interactions import Interactions
from pipeline.data.warehouse import one_row


@dataclass(frozen=True)
class DataQuality:
    """What one run saw: this run's ingest counts, then the warehouse and the training matrix."""

    rows_in: int
    rows_loaded: int
    rows_quarantined: int
    quarantine_reasons: dict[str, int]
    events_total: int
    event_types: dict[str, int]
    first_event: str | None
    last_event: str | None
    users: int
    items: int
    interactions: int
    density: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        types = ", ".join(f"{t} {n:,}" for t, n in self.event_types.items())
        reasons = ", ".join(f"{r} {n:,}" for r, n in self.quarantine_reasons.items()) or "none"
        lines = [
            f"rows in {self.rows_in:,}: loaded {self.rows_loaded:,}, quarantined {self.rows_quarantined:,}"
            f" ({reasons})",
            f"warehouse: {self.events_total:,} events ({types}), {self.first_event} .. {self.last_event}",
            f"training matrix: {self.users:,} users x {self.items:,} items, {self.interactions:,} "
            f"interactions, density {self.density:.3%}",
        ]
        return "\n".join(lines + self.notes)


def quality_summary(
    con: duckdb.DuckDBPyConnection, ingest_report: dict | None, data: Interactions
) -> DataQuality:
    """The data-quality summary of a run: ``ingest_report`` is ``IngestReport.as_dict()`` (or None)."""
    report = ingest_report or {}
    loaded, quarantined = report.get("rows_loaded", 0), report.get("rows_quarantined", 0)
    types = dict(
        con.execute("SELECT event_type, count(*) FROM raw_events GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    )
    first, last = one_row(con, "SELECT min(ts), max(ts) FROM raw_events")
    users, items = data.shape
    notes = (
        [f"grown files, their added rows loaded: {', '.join(report['files_changed'])}"]
        if report.get("files_changed")
        else []
    )
    return DataQuality(
        rows_in=loaded + quarantined,
        rows_loaded=loaded,
        rows_quarantined=quarantined,
        quarantine_reasons=dict(report.get("quarantine_reasons", {})),
        events_total=sum(types.values()),
        event_types=types,
        first_event=None if first is None else str(first),
        last_event=None if last is None else str(last),
        users=users,
        items=items,
        interactions=int(data.user_items.nnz),
        density=data.user_items.nnz / (users * items) if users and items else 0.0,
        notes=notes,
    )
