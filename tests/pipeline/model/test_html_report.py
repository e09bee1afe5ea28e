"""The HTML report: one self-contained page per version and an index, checked in a real browser."""

from __future__ import annotations

import re

import pytest

from pipeline.data.splits import split_per_user
from pipeline.model import evaluate, examples, html_report, report, train
from pipeline.model.gate import GateCheck, GateDecision
from pipeline.settings import ALSParams
from tests import browser
from tests.model_data import meta_for, synthetic_interactions

PARAMS = ALSParams(factors=8, regularization=1.0, iterations=4)
MATPLOTLIB_BLUE = (31, 119, 180)  # the first colour of matplotlib's cycle: the model's bars and lines


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Two versions' artifacts with their reports, the HTML pages and the index."""
    holdout = split_per_user(synthetic_interactions(), 0.2, seed=0)
    model = train.fit(holdout.train, PARAMS)
    evaluation = evaluate.evaluate_candidate(model, holdout, 10, [5])
    names = {item: f"NAMED ITEM {item}" for item in holdout.train.item_ids.tolist()}
    shown = examples.markdown(examples.example_lists(model, holdout.train, None, None), names)
    weaker = ALSParams(factors=2, regularization=1.0, iterations=1)
    older = evaluate.evaluate_candidate(train.fit(holdout.train, weaker), holdout, 10, [5])
    root = tmp_path_factory.mktemp("artifacts")
    check = GateCheck(name="beats popular", value=0.2345, needed=0.1111, passed=True)
    metas = [
        meta_for("v1", evaluation=older),
        meta_for("v2", evaluation=evaluation, gate=GateDecision(passed=True, reason="fine", checks=[check])),
    ]
    pages = {}
    for i, meta in enumerate(metas):
        markdown_page = report.write_report(root / meta.version, meta, metas[:i], shown if i else "")
        pages[meta.version] = html_report.write_html(markdown_page)
    return root, pages, html_report.write_index(root, metas), metas


def test_a_page_is_one_file_with_its_plots_inside(site):
    _, pages, _, _ = site
    text = pages["v2"].read_text()
    assert text.count("data:image/png;base64,") == 4  # metrics, slices, popularity, history
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing from the network
    assert "<table>" in text and "beats popular" in text and "0.2345" in text
    assert 'class="passed"' in text


def test_the_index_links_every_version_newest_first(site):
    root, _, index, metas = site
    text = index.read_text()
    assert text.index(">v2<") < text.index(">v1<")
    assert 'href="v2/report.html"' in text and 'href="v1/report.html"' in text
    for meta in metas:
        for name in ("model", "popular"):
            assert f"<td>{meta.evaluation.overall[name]['ndcg@10']:.4f}</td>" in text


def test_only_plain_file_names_of_the_directory_are_inlined(tmp_path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\nxx")
    text = "![a](a.png) ![b](../secret.png) ![c](/etc/passwd) ![d](missing.png)"
    out = html_report.embedded(text, tmp_path)
    assert out.startswith("![a](data:image/png;base64,")
    assert "![b](../secret.png)" in out and "![c](/etc/passwd)" in out and "![d](missing.png)" in out


def test_in_a_browser_the_plots_are_drawn_and_the_figures_shown(site, tmp_path):
    root, pages, index, metas = site
    url = pages["v2"].as_uri()
    page = browser.dom(url)
    ndcg = metas[1].evaluation.overall["model"]["ndcg@10"]
    assert f"{ndcg:.4f}" in page and "Quality gate PASSED" in page
    assert "Example lists" in page and "we suggest" in page and page.count("NAMED ITEM") >= 10
    assert page.count("<img") == 4
    shot = browser.screenshot(url, tmp_path / "report.png")
    assert browser.pixels_near(shot, MATPLOTLIB_BLUE) > 5000  # bars and lines drawn, not broken images
    blank = tmp_path / "blank.html"
    blank.write_text(re.sub(r"<img [^>]*>", "", pages["v2"].read_text()))
    assert (
        browser.pixels_near(browser.screenshot(blank.as_uri(), tmp_path / "blank.png"), MATPLOTLIB_BLUE) < 100
    )
    assert "v1" in browser.dom(index.as_uri()) and "report" in browser.dom(index.as_uri())
