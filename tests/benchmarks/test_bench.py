"""recs bench: the whole orchestration on the tiny scale, JSON shape and sane figures (no timing limits)."""

from __future__ import annotations

import json

import pytest

from benchmarks import run as bench
from pipeline import cli

FIELDS = {"name", "seconds", "baseline_seconds", "ratio", "peak_rss_mb"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """train + topk on the tiny scale (the other groups belong to their own modules' tests)."""
    return bench.run("tiny", ["train", "topk"], workdir=tmp_path_factory.mktemp("bench"))


def test_every_record_has_the_stage_fields(tiny):
    assert tiny["stages"], "no records"
    for record in tiny["stages"]:
        assert set(record) >= FIELDS, record["name"]


def test_figures_are_sane(tiny):
    measured = [r for r in tiny["stages"] if r["baseline_seconds"] is not None]
    names = {r["name"] for r in measured}
    assert "train: ALS fit vs bare implicit fit" in names
    assert "top-k all users vs matrix product" in names
    assert any(n.startswith("top-k variant: implicit batch recommend") for n in names)
    for r in measured:
        assert r["seconds"] > 0 and r["baseline_seconds"] > 0, r["name"]
        seconds, base = r["seconds"], r["baseline_seconds"]  # both rounded to 1 ms
        assert (seconds - 0.0005) / (base + 0.0005) <= r["ratio"] <= (seconds + 0.0005) / (base - 0.0005)
        assert 10 < r["peak_rss_mb"] < 24_000, r["name"]


def test_the_flow_estimate_adds_up_the_measured_parts(tiny):
    flow = tiny["stages"][-1]
    assert flow["name"] == "nightly flow (estimate)"
    assert flow["seconds"] == pytest.approx(sum(flow["parts"].values()), abs=0.2)
    assert {"train x2", "top-k", "similar items", "publish (real DynamoDB terms)"} <= set(flow["parts"])
    assert "ingest" in flow["missing"]  # the data group did not run


def test_machine_and_history_row(tiny, tmp_path):
    assert tiny["machine"]["cores"] >= 1 and tiny["machine"]["versions"]["implicit"]
    history = tmp_path / "benchmarks.md"
    history.write_text("| header |\n")
    path = bench.save(tiny, out_dir=tmp_path / "out", history=history)
    assert json.loads(path.read_text())["stages"] == tiny["stages"]
    row = history.read_text().splitlines()[-1]
    assert row.startswith("| ") and "| tiny |" in row and "implicit" in row


def test_a_history_row_goes_at_the_end_of_the_table_not_after_the_notes():
    page = "\n".join(
        ["# Benchmarks", "", "| another table |", "", "## History", "", "| date |", "|---|", "| old |", ""]
        + ["### A note on one run", "", "text", ""]
    )
    lines = bench.with_history_row(page, "| new |").splitlines()
    assert lines[lines.index("| old |") + 1] == "| new |"
    assert lines[-1] == "text"
    assert bench.with_history_row("no table yet\n", "| first |").splitlines() == ["no table yet", "| first |"]


def test_unknown_group_is_refused():
    with pytest.raises(ValueError, match="--only must name groups"):
        bench.run("tiny", ["topk", "gpu"])


def test_cli_ends_with_one_json_line(monkeypatch, capsys, tiny):
    monkeypatch.setattr(bench, "run", lambda scale, only: tiny)
    monkeypatch.setattr(bench, "save", lambda result: "var/bench/x.json")
    assert cli.main(["bench", "--scale", "tiny", "--only", "topk", "--json"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert [s["name"] for s in json.loads(last)["stages"]] == [s["name"] for s in tiny["stages"]]


def test_generate_writes_a_log(tmp_path):
    assert (
        cli.main(["generate", "--events", "2000", "--users", "50", "--items", "30", "--out", str(tmp_path)])
        == 0
    )
    assert len(list(tmp_path.glob("events-*.parquet"))) == 14  # the small scale's days
