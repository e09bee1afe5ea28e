"""Evaluation: slices, baselines, the candidate against them, and ``recs evaluate``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pipeline import cli
from pipeline.data.splits import split_per_user
from pipeline.model import evaluate, report, train
from pipeline.settings import ALSParams
from tests.model_data import pairs, relevant, synthetic_interactions

# --- splits -------------------------------------------------------------------------------------


# --- slices and the whole measurement ------------------------------------------------------------


def test_user_slices_by_activity_and_attribute():
    # training items per user: 1, 2, 5, 10
    dense = np.zeros((4, 12))
    for user, n in enumerate([1, 2, 5, 10]):
        dense[user, :n] = 1
    countries = pd.Series(["GB", "DE", "GB", None], index=[0, 1, 2, 3], name="country").dropna()
    slices = evaluate.user_slices(
        sp.csr_matrix(dense), np.array([0, 1, 2, 3]), countries, cold_max=2, heavy_quantile=0.75
    )
    assert slices["cold (<= 2 items)"].tolist() == [True, True, False, False]
    heavy = next(name for name in slices if name.startswith("heavy"))
    assert slices[heavy].tolist() == [False, False, False, True]
    assert slices["country=GB"].tolist() == [True, False, True, False]
    assert slices["country=DE"].tolist() == [False, True, False, False]


def test_long_tail_drops_the_items_that_hold_the_head_of_interactions():
    # popularity: item0 4 users, item1 2, item2 1, item3 1: item0 alone holds half the interactions
    train_items = sp.csr_matrix(
        np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]], dtype=float)
    )
    tail = evaluate.long_tail(relevant(4, [0, 1], [0, 3]), train_items)
    assert pairs(tail) == {(0, 1), (1, 3)}


@pytest.fixture(scope="module")
def fitted():
    holdout = split_per_user(synthetic_interactions(), 0.2, seed=0)
    params = ALSParams(factors=16, regularization=5.0, alpha=5.0, iterations=8)
    return holdout, params, train.fit(holdout.train, params)


def test_a_trained_model_beats_most_popular_overall_and_on_the_slices(fitted):
    holdout, _, model = fitted
    countries = pd.Series(np.where(np.arange(holdout.train.shape[0]) % 3, "GB", "DE"), name="country")
    result = evaluate.evaluate_candidate(model, holdout, 10, [5, 20], countries)
    assert set(result.overall) == {"model", "popular", "item_knn"}
    assert result.overall["model"]["ndcg@10"] > result.overall["popular"]["ndcg@10"]
    assert {"country=GB", "country=DE", "long-tail items"} <= set(result.slices)
    assert (
        result.slices["country=GB"]["model"]["users"] + result.slices["country=DE"]["model"]["users"]
        == (result.overall["model"]["users"])
    )
    assert result.overall["popular"]["coverage@10"] < result.overall["model"]["coverage@10"]
    assert {"ndcg@5", "ndcg@20", "popularity_rank", "coverage"} <= set(result.overall["model"])


def test_the_published_version_is_refitted_on_this_training_part_not_scored_with_its_own_factors(fitted):
    """Leakage rule: the published model's parameters are refitted on the holdout's training part;
    the same parameters therefore score exactly as the candidate, whatever the old factors knew."""
    holdout, params, model = fitted
    result = evaluate.evaluate_candidate(model, holdout, 10, published_params=params)
    assert result.overall["published"] == result.overall["model"]


def test_summary_has_the_documented_shape(fitted):
    holdout, params, model = fitted
    summary = evaluate.as_summary(evaluate.evaluate_candidate(model, holdout, 10), params.model_dump())
    assert {"ndcg@10", "precision@10", "recall@10", "map@10", "coverage"} <= set(summary["model"])
    assert set(summary["baselines"]) == {"popular", "item_knn"}
    assert summary["k"] == 10 and summary["params"]["factors"] == 16


# --- the command ---------------------------------------------------------------------------------


def test_recs_evaluate_prints_a_json_summary_last(warehouse_file, capsys):
    events = str(warehouse_file[1])
    code = cli.main(
        ["evaluate", "--events", events, "--split", "random-per-user", "--test-fraction", "0.2", "--k", "5"]
        + ["--seed", "1", "--trials", "2", "--json"]
    )
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert summary["k"] == 5
    assert {"ndcg@5", "precision@5", "recall@5", "map@5", "coverage"} <= set(summary["model"])
    assert set(summary["baselines"]) == {"popular", "item_knn"}
    assert {"factors", "regularization", "alpha", "iterations"} <= set(summary["params"])


def test_recs_evaluate_rejects_both_a_fraction_and_days():
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--events", "x", "--test-fraction", "0.2", "--holdout-days", "3"])


def test_recs_evaluate_names_a_missing_event_path(tmp_path, capsys):
    assert cli.main(["evaluate", "--events", str(tmp_path / "nope")]) == 1
    assert "no such file or directory" in capsys.readouterr().err


def test_recs_evaluate_reads_a_three_column_log_with_the_settings_k_and_fraction(
    tmp_path, monkeypatch, capsys
):
    """A plain ``user_id,item_id,timestamp`` log (epoch seconds), the settings' eval_k and
    test_fraction: 3 items per user leave no test item at 0.2 and one at 0.5."""
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{(u + 5 * j + int(rng.integers(3))) % 30}", 1_700_000_000 + 60 * (3 * u + j))
            for u in range(60) for j in range(3)]  # fmt: skip
    path = tmp_path / "plain.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).drop_duplicates(
        ["user_id", "item_id"]
    ).to_csv(path, index=False)
    monkeypatch.setenv("RECS_EVAL_K", "3")
    monkeypatch.setenv("RECS_TEST_FRACTION", "0.5")
    monkeypatch.setenv("RECS_TUNING__MAX_TRIALS", "1")
    assert cli.main(["evaluate", "--events", str(path), "--split", "random-per-user", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert summary["k"] == 3 and "ndcg@3" in summary["model"]
    assert out[0].startswith("random-per-user split, ") and summary["model"]["users"] >= 50


def test_each_slice_reports_its_users_and_a_confidence_interval_that_narrows_with_them(fitted):
    holdout, _, model = fitted
    countries = pd.Series(np.where(np.arange(holdout.train.shape[0]) % 10, "GB", "DE"), name="country")
    result = evaluate.evaluate_candidate(model, holdout, 10, (), countries)
    gb, de = result.slices["country=GB"]["model"], result.slices["country=DE"]["model"]
    assert gb["users"] > 5 * de["users"] > 0
    assert 0 < gb["ndcg@10_ci95"] < de["ndcg@10_ci95"]
    users = holdout.test_users
    lists = evaluate.model_lists(model, holdout, users, 10)
    per_user = evaluate.per_user_metrics(lists, holdout.test[users], [10])["ndcg@10"]
    expected = 1.96 * np.nanstd(per_user, ddof=1) / np.sqrt(np.count_nonzero(~np.isnan(per_user)))
    assert result.overall["model"]["ndcg@10_ci95"] == pytest.approx(expected)
    row = next(r for r in report.slice_rows(result) if r["slice"] == "country=DE")
    assert row["users"] == de["users"]
    assert (row["model ndcg@10"], row["model ±"]) == (de["ndcg@10"], de["ndcg@10_ci95"])
