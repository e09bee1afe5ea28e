"""Data quality: what a run saw, from its ingest counts to the training matrix."""

from __future__ import annotations

from pipeline import flow
from pipeline.data import warehouse
from pipeline.data.ingest import IngestReport
from pipeline.data.interactions import InteractionRules, load_matrix
from pipeline.data.quality import quality_summary
from pipeline.settings import PipelineSettings
from tests.pipeline.data.logs import WEIGHTS, log


def test_quality_summary_counts_what_the_run_saw(load):
    con = load(
        log(("a", "x", "view", 0), ("a", "y", "purchase", 2), ("b", "x", "cart", 1), ("b", "x", "view", 3))
    )
    data = load_matrix(con, InteractionRules(WEIGHTS))
    report = IngestReport(["f"], [], ["g"], 4, 1, {"unknown event_type": 1})
    quality = quality_summary(con, report.as_dict(), data)
    assert (quality.rows_in, quality.rows_loaded, quality.rows_quarantined) == (5, 4, 1)
    assert quality.event_types == {"view": 2, "cart": 1, "purchase": 1}
    assert (quality.users, quality.items, quality.interactions, quality.density) == (2, 2, 3, 0.75)
    assert (quality.first_event, quality.last_event) == ("2026-01-01 00:00:00", "2026-01-04 00:00:00")
    text = quality.text()
    assert "rows in 5: loaded 4, quarantined 1 (unknown event_type 1)" in text
    assert "grown files, their added rows loaded: g" in text


def test_flow_task_prints_and_returns_the_summary(load, tmp_path, capsys):
    con = load(log(("a", "x", "view", 0), ("b", "x", "cart", 1)))
    con.close()
    settings = PipelineSettings(warehouse=tmp_path / "w0.duckdb")
    with warehouse.connect(settings.warehouse, read_only=True) as ro:
        data = load_matrix(ro, InteractionRules.from_settings(settings))
    quality = flow.summarize_data.fn(settings, IngestReport(rows_loaded=2), data)
    assert quality["users"] == 2 and quality["rows_loaded"] == 2
    assert "training matrix: 2 users x 1 items, 2 interactions, density 100.000%" in capsys.readouterr().out
