"""The run plan: re-runs and empty days, and the run date of event paths."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

import contract
from pipeline.errors import PipelineError
from pipeline.ops import plan
from pipeline.settings import ALSParams
from tests.model_data import meta_for

EIGHT, SIXTEEN = ALSParams(factors=8), ALSParams(factors=16)
SERVED = meta_for("v1", data_fingerprint="fp1", params=EIGHT, configured_params=EIGHT)
# tuned: trained with other parameters than the configured ones, which are what a re-run compares
TUNED = meta_for("v1", data_fingerprint="fp1", params=ALSParams(factors=32), configured_params=EIGHT)


@pytest.mark.parametrize(
    ("new_files", "fingerprint", "params", "version", "served", "policy", "force", "expected"),
    [
        (3, "fp1", EIGHT, None, None, "skip", False, (True, True, "no version is served")),
        (3, "fp2", EIGHT, "v1", SERVED, "skip", False, (True, True, "data changed")),
        (0, "fp1", SIXTEEN, "v1", SERVED, "skip", False, (True, True, "params changed")),
        (0, "fp2", EIGHT, "v1", SERVED, "skip", False, (True, True, "data changed")),
        (0, "fp1", EIGHT, "v1", SERVED, "skip", False, (False, False, "empty day")),
        (0, "fp1", EIGHT, "v1", SERVED, "retrain", False, (True, False, "empty day")),
        (2, "fp1", EIGHT, "v1", SERVED, "skip", False, (False, False, "changed no interaction")),
        (0, "fp1", EIGHT, "v1", SERVED, "skip", True, (True, True, "forced")),
        (0, "fp1", EIGHT, "v1", None, "skip", False, (True, True, "no artifact here")),
        (0, "fp1", EIGHT, "v1", TUNED, "skip", False, (False, False, "empty day")),
        (0, "fp1", SIXTEEN, "v1", TUNED, "skip", False, (True, True, "params changed")),
    ],
)
def test_plan_run(new_files, fingerprint, params, version, served, policy, force, expected):
    decided = plan.plan_run(new_files, fingerprint, params, version, served, policy, force)
    assert (decided.train, decided.publish) == expected[:2]
    assert expected[2] in decided.reason


@pytest.mark.parametrize("force", [False, True])
def test_nothing_is_published_while_an_experiment_runs_even_forced(force):
    running = contract.Experiment("ab-1", "v1", "v2", 0.5, "salt", started_at=1.0e9)
    decided = plan.plan_run(3, "fp2", EIGHT, "v1", SERVED, "skip", force, running)
    assert (decided.train, decided.publish) == (True, False)
    assert "experiment ab-1 is running (control v1, treatment v2)" in decided.reason
    assert "recs experiment stop" in decided.reason
    stopped = replace(running, status="stopped", stopped_at=1.0e9 + 60)
    assert plan.plan_run(3, "fp2", EIGHT, "v1", SERVED, "skip", force, stopped).publish


def test_run_date_fills_the_event_path():
    assert plan.resolve_events(["in/{run_date}/"], "2026-03-04") == ["in/2026-03-04/"]
    scheduled = datetime(2026, 3, 5, 2, 0)
    assert plan.resolve_events(["in/{run_date}"], None, scheduled) == ["in/2026-03-04"]
    assert plan.resolve_events(["in/all"], None, scheduled) == ["in/all"]
    with pytest.raises(PipelineError, match="run_date must be a date as YYYY-MM-DD, got '4 March'"):
        plan.resolve_events(["in/{run_date}"], "4 March")
