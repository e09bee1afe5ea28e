"""The run report as web pages: one self-contained ``report.html`` per version and an
``index.html`` over all versions, a static site written next to the artifacts.

The Markdown report (``report.py``) stays the one source of the content; this module turns
it into HTML with Python-Markdown and embeds each plot as a ``data:`` URI, so a page is one
file that shows the same anywhere: opened from disk, served from the bucket as it is, or
mailed. Nothing on a page loads from the network.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path

import markdown

from pipeline.model.artifact import ArtifactMeta

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem;
       color: #1b1f24; }}
h1 {{ font-size: 1.6rem; }} h2 {{ font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1rem; font-variant-numeric: tabular-nums; }}
th, td {{ border: 1px solid #d0d7de; padding: 0.25rem 0.6rem; text-align: left; }}
th {{ background: #f3f5f7; }}
img {{ max-width: 100%; height: auto; display: block; margin: 0.5rem 0; }}
code {{ background: #f3f5f7; padding: 0 0.2rem; }}
.passed {{ color: #116329; }} .refused {{ color: #a40e26; }}
nav {{ margin-bottom: 1rem; }}
</style></head>
<body>
{nav}
{body}
</body></html>
"""
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


def embedded(markdown_text: str, directory: Path) -> str:
    """``markdown_text`` with each image that is a file of ``directory`` inlined as a data URI
    (so that it shows where the file is not: a Prefect artifact, a copied page)."""

    def inline(match: re.Match) -> str:
        alt, name = match.groups()
        path = Path(directory) / name
        if "/" in name or "\\" in name or not path.is_file() or path.suffix.lower() != ".png":
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"![{alt}](data:image/png;base64,{data})"

    return IMAGE.sub(inline, markdown_text)


def to_html(markdown_text: str, title: str, nav: str = "") -> str:
    body = markdown.markdown(markdown_text, extensions=["tables"], output_format="html")
    body = body.replace(
        "<strong>Quality gate PASSED</strong>", '<strong class="passed">Quality gate PASSED</strong>'
    )
    body = body.replace(
        "<strong>Quality gate REFUSED</strong>", '<strong class="refused">Quality gate REFUSED</strong>'
    )
    return PAGE.format(title=html.escape(title), nav=nav, body=body)


def write_html(report_md: Path) -> Path:
    """``report.html`` beside ``report.md``, its plots embedded; returns its path."""
    report_md = Path(report_md)
    text = embedded(report_md.read_text(), report_md.parent)
    version = report_md.parent.name
    page = report_md.with_suffix(".html")
    page.write_text(
        to_html(text, f"recs run report {version}", '<nav><a href="../index.html">all versions</a></nav>')
    )
    return page


def write_index(root: Path, metas: Sequence[ArtifactMeta]) -> Path:
    """``index.html`` under ``root``: every version, newest first, with its gate decision, its
    headline metric next to the popularity baseline, and a link to its report."""
    rows = []
    for meta in sorted(metas, key=lambda m: m.version, reverse=True):
        evaluation = meta.evaluation
        headline = evaluation.headline
        model = evaluation.overall.get("model", {}).get(headline)
        popular = evaluation.overall.get("popular", {}).get(headline)
        link = (
            f'<a href="{html.escape(meta.version)}/report.html">report</a>'
            if (Path(root) / meta.version / "report.html").exists()
            else ""
        )
        status = "passed" if meta.status == "passed" else "refused"
        rows.append(
            f'<tr><td>{html.escape(meta.version)}</td><td class="{status}">{status}</td>'
            f"<td>{_figure(model)}</td><td>{_figure(popular)}</td><td>{html.escape(meta.gate.reason)}</td>"
            f"<td>{link}</td></tr>"
        )
    headline = metas[-1].evaluation.headline if metas else "ndcg"
    table = (
        f"<table><thead><tr><th>version</th><th>gate</th><th>{html.escape(headline)} model</th>"
        f"<th>{html.escape(headline)} popular</th><th>reason</th><th></th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    path = Path(root) / "index.html"
    path.write_text(PAGE.format(title="recs model versions", nav="", body=f"<h1>Model versions</h1>{table}"))
    return path


def _figure(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
