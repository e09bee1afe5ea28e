"""A scheduled day whose folder never came (missing or empty) takes the empty-day path instead of
failing the run (issue #12, item 15), through the real flow, moto and DuckDB."""

from __future__ import annotations

import pytest

from infra.local.synthetic import SyntheticSpec, write_daily
from pipeline.data.ingest import IngestError
from pipeline.ops import plan

TINY = SyntheticSpec(events=3_000, users=150, items=60, days=6, clusters=4, seed=5)


@pytest.fixture
def settings(run_settings):
    return run_settings(k=5, similar_k=3)


def test_a_missing_or_empty_day_folder_is_an_empty_day(tmp_path, settings, dynamodb, prefect_harness):
    from pipeline.flow import nightly

    write_daily(TINY, tmp_path / "incoming" / "2026-03-01")
    dated = str(tmp_path / "incoming" / "{run_date}")
    first = nightly(events=[dated], settings=settings, run_date="2026-03-01")
    assert first.published

    missing = nightly(events=[dated], settings=settings, run_date="2026-03-02")  # no folder at all
    (tmp_path / "incoming" / "2026-03-03").mkdir()
    empty = nightly(events=[dated], settings=settings, run_date="2026-03-03")  # a folder with nothing
    for run in (missing, empty):
        assert not run.published and "no new event files (empty day)" in run.reason
        assert run.model_version == first.model_version
    assert plan.served_version(dynamodb, settings.table_name) == first.model_version


def test_a_fixed_source_that_names_nothing_still_fails(tmp_path, settings, prefect_harness):
    from pipeline.flow import nightly

    with pytest.raises(IngestError, match="no such file or directory"):
        nightly(events=[str(tmp_path / "not-there")], settings=settings)
