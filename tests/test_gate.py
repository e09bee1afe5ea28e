"""The quality gate: its rules, and in the real flow a worse model is refused while the old one serves."""

from __future__ import annotations

import pytest

from pipeline import artifact, evaluate, operations, synthetic
from pipeline.flow import nightly
from pipeline.settings import ALSParams, TuningSettings, load_settings
from tests.model_data import TINY

MODEL = {"ndcg@10": 0.20}


@pytest.mark.parametrize(
    ("popular", "min_lift", "published", "tolerance", "passed", "reason"),
    [
        ({"ndcg@10": 0.10}, 0.0, None, 0.0, True, "ndcg@10 0.2000 passes: > popular 0.1000 x 1.00"),
        (
            {"ndcg@10": 0.10},
            1.5,
            None,
            0.0,
            False,
            "does not beat the popularity baseline 0.1000 by the required 150%",
        ),
        ({"ndcg@10": 0.20}, 0.0, None, 0.0, False, "does not beat the popularity baseline"),
        ({"ndcg@10": 0.10}, 0.0, {"ndcg@10": 0.204}, 0.05, True, "and >= published v1 0.2040 x 0.95"),
        (
            {"ndcg@10": 0.10},
            0.0,
            {"ndcg@10": 0.25},
            0.05,
            False,
            "more than 5% below the published version v1 (0.2500)",
        ),
    ],
)
def test_gate_rules(popular, min_lift, published, tolerance, passed, reason):
    decision = evaluate.quality_gate(MODEL, popular, 10, min_lift, published, tolerance, "v1")
    assert decision.passed is passed
    assert reason in decision.reason
    assert len(decision.checks) == (1 if published is None else 2)


def test_both_failures_are_named():
    decision = evaluate.quality_gate(MODEL, {"ndcg@10": 0.3}, 10, 0.0, {"ndcg@10": 0.4}, 0.0, "v1")
    assert not decision.passed and [c["passed"] for c in decision.checks] == [False, False]
    assert "popularity baseline" in decision.reason and "published version v1" in decision.reason


GOOD = ALSParams(factors=16, regularization=5.0, alpha=5.0, iterations=8)
BAD = ALSParams(factors=1, regularization=1000.0, alpha=0.01, iterations=1)  # about as good as nothing


@pytest.fixture(scope="module")
def runs(tmp_path_factory, local_aws, dynamodb, prefect_harness):
    """Three nightly runs on the same events: a good model, a deliberately bad one, the bad one forced."""
    root = tmp_path_factory.mktemp("gate")
    events = [str(p) for p in synthetic.write_daily(TINY, root / "events")]
    base = load_settings(
        warehouse=root / "warehouse.duckdb",
        artifacts_dir=root / "artifacts",
        table_name=f"recs-gate-{root.name[-8:].replace('_', '-')}",
        aws_endpoint_url=local_aws.endpoint_url,
        event_weights={"view": 1.0, "cart": 3.0, "purchase": 5.0},
        holdout_split="random-per-user",
        k=5,
        similar_k=3,
        tuning=TuningSettings(enabled=False),
        max_drop_vs_published=0.02,
    )
    good = nightly(events=events, settings=base.model_copy(update={"als": GOOD}))
    bad = nightly(events=events, settings=base.model_copy(update={"als": BAD}))
    served_after_bad = operations.served_version(dynamodb, base.table_name)
    forced = nightly(events=events, settings=base.model_copy(update={"als": BAD}), force=True)
    return base, good, bad, served_after_bad, forced


def test_a_deliberately_bad_model_is_refused_and_the_old_version_keeps_serving(runs):
    base, good, bad, served_after_bad, _ = runs
    assert good.published
    assert not bad.published and bad.rows_published == 0
    assert bad.reason.startswith(f"refused by the quality gate, {good.model_version} keeps serving")
    assert served_after_bad == good.model_version


def test_the_refused_model_is_kept_as_an_artifact_with_its_report(runs):
    base, good, bad, *_ = runs
    meta = artifact.load_meta(base.artifacts_dir, bad.model_version)
    assert meta["status"] == "refused" and not meta["gate"]["passed"]
    assert meta["params"]["factors"] == 1
    # measured against the served version's parameters refitted on the same training part
    assert meta["metrics"]["published"]["ndcg@10"] > meta["metrics"]["model"]["ndcg@10"]
    assert [c["passed"] for c in meta["gate"]["checks"]] == [False, False]
    page = (base.artifacts_dir / bad.model_version / "report.md").read_text()
    assert "Quality gate REFUSED" in page and good.model_version in page


def test_force_publishes_a_refused_model(runs, dynamodb):
    base, *_, forced = runs
    assert forced.published
    assert artifact.load_meta(base.artifacts_dir, forced.model_version)["status"] == "refused"
    assert operations.served_version(dynamodb, base.table_name) == forced.model_version
