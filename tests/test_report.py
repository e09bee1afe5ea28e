"""The run report: Markdown with its plots, rendered from plain dicts, history across versions."""

from __future__ import annotations

import pytest

from pipeline import evaluate, report, train
from pipeline.settings import ALSParams
from tests.model_data import synthetic_interactions

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def evaluation() -> dict:
    holdout = evaluate.split_per_user(synthetic_interactions(), 0.2, seed=0)
    model = train.fit(holdout.train, ALSParams(factors=8, regularization=1.0, iterations=4))
    return evaluate.evaluate_candidate(model, holdout, 10, [5]).as_dict()


def gate(passed: bool, reason: str) -> dict:
    return {
        "passed": passed,
        "reason": reason,
        "checks": [{"name": "beats popular", "value": 0.2, "needed": 0.1, "passed": passed}],
    }


TUNING = {
    "source": "search",
    "metric": "ndcg@10",
    "best": {"factors": 8},
    "trials": [{"trial": 0, "ndcg@10": 0.2}],
}
PAST = [
    {
        "version": "v1",
        "status": "passed",
        "metrics": {"model": {"ndcg@10": 0.3}, "popular": {"ndcg@10": 0.1}},
    },
    {"version": "v0", "status": "passed", "metrics": {"other": 1}},  # no headline metric: left out
]


@pytest.fixture(scope="module")
def refused_page(evaluation, tmp_path_factory):
    """One report written with its plots (plotting is the slow part): a refused run after v1 and v0."""
    return report.write_report(
        tmp_path_factory.mktemp("report"), "v2", evaluation, gate(False, "too weak"), TUNING, PAST
    )


def test_the_report_has_tables_and_plots(refused_page):
    text = refused_page.read_text()
    assert refused_page.name == "report.md"
    assert "| model |" in text and "| popular |" in text and "| item_knn |" in text
    assert "long-tail items" in text and "Winner: `{'factors': 8}`" in text
    for name in ("metrics", "slices", "popularity", "history"):
        assert f"![{name}]({name}.png)" in text
        assert (refused_page.parent / f"{name}.png").read_bytes()[:8] == PNG


def test_a_refused_run_says_so_and_the_history_marks_it(refused_page):
    text = refused_page.read_text()
    assert "**Quality gate REFUSED**: too weak" in text
    assert "| v1 | 0.3000 | 0.1000 | passed |" in text
    assert "| v2 |" in text and "| refused |" in text and "| v0 |" not in text


def test_a_passed_run_says_so(evaluation):
    plots = {"metrics": "m.png", "slices": "s.png", "popularity": "p.png"}
    text = report.render_markdown("v3", evaluation, gate(True, "ndcg@10 0.2 passes"), None, [], plots)
    assert "**Quality gate PASSED**: ndcg@10 0.2 passes" in text
    assert "## Tuning" not in text and "![history]" not in text


def test_history_points_read_old_and_new_meta_layouts():
    old = {"version": "a", "metrics": {"model": {"ndcg@10": 0.2}, "popular": {"ndcg@10": 0.1}}}
    new = {"version": "b", "status": "refused", "metrics": {"overall": {"model": {"ndcg@10": 0.25}}}}
    points = report.history_points([old, new], "ndcg@10")
    assert points == [
        {"version": "a", "model": 0.2, "popular": 0.1, "status": ""},
        {"version": "b", "model": 0.25, "popular": None, "status": "refused"},
    ]


def test_markdown_table():
    assert report.markdown_table([{"a": 1, "b": 0.123456}]) == "| a | b |\n|---|---|\n| 1 | 0.1235 |"
    assert report.markdown_table([]) == "_(none)_"
