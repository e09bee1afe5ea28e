"""The quality gate in the real flow: a worse model is refused while the old one serves, force overrides."""

from __future__ import annotations

import pytest

from infra.local import synthetic
from pipeline.flow import nightly
from pipeline.model import artifact
from pipeline.ops import plan
from pipeline.settings import ALSParams, TuningSettings, load_settings
from tests.model_data import TINY

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
    served_after_bad = plan.served_version(dynamodb, base.table_name)
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
    assert meta.status == "refused" and not meta.gate.passed
    assert meta.params.factors == 1
    # measured against the served version's parameters refitted on the same training part
    assert meta.metrics["published"]["ndcg@10"] > meta.metrics["model"]["ndcg@10"]
    assert [c.passed for c in meta.gate.checks[:2]] == [False, False]
    # past the headline: one factor gives every user about the same list, which the served model's
    # lists barely overlap (the data did not change) and which covers a sliver of the catalogue
    judged = {c.name.split(":")[0]: c for c in meta.gate.checks}
    churn = judged[f"overlap@10 with served {good.model_version}"]
    assert not churn.passed and churn.value < 0.2 and "data changed 0.0%" in churn.detail
    assert not judged["coverage@10"].passed
    assert f"overlap@10 with served {good.model_version}" in meta.gate.reason
    page = (base.artifacts_dir / bad.model_version / "report.md").read_text()
    assert "Quality gate REFUSED" in page and good.model_version in page


def test_force_publishes_a_refused_model(runs, dynamodb):
    base, *_, forced = runs
    assert forced.published
    assert artifact.load_meta(base.artifacts_dir, forced.model_version).status == "refused"
    assert plan.served_version(dynamodb, base.table_name) == forced.model_version
