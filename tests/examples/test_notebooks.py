"""The notebooks in examples/ run top to bottom on a fresh kernel, and show what they promise."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]


def outputs(cell) -> str:
    texts = []
    for out in cell.get("outputs", []):
        texts.append(out.get("text", ""))
        texts.extend(str(value) for value in out.get("data", {}).values())
    return "\n".join(texts)


@pytest.mark.timeout(600)
def test_first_hour_runs_and_explains_a_customer(tmp_path, monkeypatch):
    monkeypatch.setenv("RECS_NOTEBOOK_WORKDIR", str(tmp_path))
    monkeypatch.setenv("RECS_CHECKOUT", str(ROOT))
    notebook = nbformat.read(ROOT / "examples" / "first_hour.ipynb", as_version=4)
    assert not any(
        cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"
    )  # committed clean
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    text = "\n".join(outputs(cell) for cell in code)
    assert "rows_loaded" in text and "purchase" in text  # the ingest report and the events by type
    assert "item_knn" in text and "popular" in text  # the metrics table
    assert any("image/png" in out.get("data", {}) for cell in code for out in cell.get("outputs", []))
    assert "user 18227" in text and "because of" in text  # the explained list
    assert (tmp_path / "warehouse.duckdb").exists()  # it wrote where it was told, not into the checkout
