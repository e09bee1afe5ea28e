"""The run report: Markdown with its plots, rendered from an artifact's meta, history across versions."""

from __future__ import annotations

import pytest

from pipeline.data.splits import split_per_user
from pipeline.model import evaluate, report, train
from pipeline.model.evaluate import Evaluation
from pipeline.model.gate import GateCheck, GateDecision
from pipeline.model.tune import TuningRecord
from pipeline.settings import ALSParams
from tests.model_data import meta_for, synthetic_interactions

PNG = b"\x89PNG\r\n\x1a\n"
PARAMS = ALSParams(factors=8, regularization=1.0, iterations=4)


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    holdout = split_per_user(synthetic_interactions(), 0.2, seed=0)
    model = train.fit(holdout.train, PARAMS)
    return evaluate.evaluate_candidate(model, holdout, 10, [5])


def gate(passed: bool, reason: str) -> GateDecision:
    check = GateCheck(name="beats popular", value=0.2, needed=0.1, passed=passed)
    return GateDecision(passed=passed, reason=reason, checks=[check])


TRIALS = [
    {"trial": 0, "ndcg@10": 0.2, "state": "complete", "elapsed": 1.0, "best_so_far": 0.2},
    {"trial": 1, "ndcg@10": 0.05, "state": "pruned", "elapsed": 1.2, "best_so_far": 0.2},
    {"trial": 2, "ndcg@10": 0.25, "state": "complete", "elapsed": 2.5, "best_so_far": 0.25},
]
TUNING = TuningRecord(source="search", metric="ndcg@10", best=PARAMS, trials=TRIALS)
V1 = meta_for("v1")  # model 0.3, popular 0.1
V0 = meta_for("v0", evaluation=Evaluation(k=10, ks=[10], overall={"other": {"x": 1.0}}))  # no headline


@pytest.fixture(scope="module")
def refused_page(evaluation, tmp_path_factory):
    """One report written with its plots (plotting is the slow part): a refused run after v1 and v0."""
    meta = meta_for(
        "v2", status="refused", evaluation=evaluation, gate=gate(False, "too weak"), tuning=TUNING
    )
    return report.write_report(tmp_path_factory.mktemp("report"), meta, [V1, V0])


def test_the_report_has_tables_and_plots(refused_page):
    text = refused_page.read_text()
    assert refused_page.name == "report.md"
    assert "| model |" in text and "| popular |" in text and "| item_knn |" in text
    assert "long-tail items" in text and "Winner: `{'factors': 8," in text
    for name in ("metrics", "slices", "popularity", "history", "tuning"):
        assert f"![{name}]({name}.png)" in text
        assert (refused_page.parent / f"{name}.png").read_bytes()[:8] == PNG


def test_a_refused_run_says_so_and_the_history_marks_it(refused_page):
    text = refused_page.read_text()
    assert "**Quality gate REFUSED**: too weak" in text
    assert "| v1 | 0.3000 | 0.1000 | passed |" in text
    assert "| v2 |" in text and "| refused |" in text and "| v0 |" not in text


def test_a_passed_run_says_so(evaluation):
    plots = {"metrics": "m.png", "slices": "s.png", "popularity": "p.png"}
    meta = meta_for("v3", evaluation=evaluation, gate=gate(True, "ndcg@10 0.2 passes"))
    text = report.render_markdown(meta, [], plots)
    assert "**Quality gate PASSED**: ndcg@10 0.2 passes" in text
    assert "## Tuning" not in text and "![history]" not in text


def test_history_points_skip_versions_without_the_headline_metric():
    refused = meta_for("b", status="refused")
    points = report.history_points([V1, V0, refused], "ndcg@10")
    assert points == [
        {"version": "v1", "model": 0.3, "popular": 0.1, "status": "passed"},
        {"version": "b", "model": 0.3, "popular": 0.1, "status": "refused"},
    ]


def test_markdown_table():
    assert report.markdown_table([{"a": 1, "b": 0.123456}]) == "| a | b |\n|---|---|\n| 1 | 0.1235 |"
    assert report.markdown_table([]) == "_(none)_"
