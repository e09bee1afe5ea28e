"""The gate past one number (issue #16): slices, catalogue coverage and churn against the served
version, each refusing a candidate built to break it and passing an honest one."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.data.interactions import Interactions
from pipeline.model import churn, gate, train
from pipeline.model.evaluate import Evaluation
from pipeline.settings import ALSParams, PipelineSettings
from tests.model_data import synthetic_interactions

SETTINGS = PipelineSettings()  # gate: 100 users, 25% slice drop, 50% coverage, 20% overlap, 10% data change


def metrics(ndcg: float, users: int = 400, coverage: float = 0.3) -> dict[str, float]:
    return {"ndcg@10": ndcg, "users": users, "coverage": coverage}


def evaluation(model: dict, served: dict, slices: dict[str, tuple[dict, dict]] | None = None) -> Evaluation:
    overall = {"model": model, "popular": metrics(0.05, coverage=0.01), "published": served}
    by_slice = {name: {"model": m, "published": s} for name, (m, s) in (slices or {}).items()}
    return Evaluation(k=10, ks=[10], overall=overall, slices=by_slice)


HONEST_SLICES = {
    "cold (<= 3 items)": (metrics(0.10, 150), metrics(0.11, 150)),
    "country=DE": (metrics(0.19, 120), metrics(0.20, 120)),
}


def test_an_honest_candidate_passes_every_check_each_on_its_own_line():
    decision = gate.decide(evaluation(metrics(0.2), metrics(0.2), HONEST_SLICES), SETTINGS, "v1")
    assert decision.passed, decision.reason
    names = [c.name for c in decision.checks]
    assert names == [
        "beats popular by 0%",
        "within 2% of published v1",
        "slice cold (<= 3 items): within 25% of served v1",
        "slice country=DE: within 25% of served v1",
        "coverage@10: at least 50% of served v1",
    ]
    de = decision.checks[3]
    assert (de.value, de.needed) == (0.19, pytest.approx(0.15))
    assert de.detail == "120 users, ndcg@10 0.1900 vs served 0.2000 (-5.0%), at least 100 users judged"


def test_one_ruined_slice_refuses_a_candidate_better_overall():
    slices = HONEST_SLICES | {"country=DE": (metrics(0.05, 120), metrics(0.20, 120))}
    decision = gate.decide(evaluation(metrics(0.25), metrics(0.2), slices), SETTINGS, "v1")
    assert not decision.passed
    assert decision.reason == (
        "slice country=DE: within 25% of served v1: 120 users, ndcg@10 0.0500 vs served 0.2000 (-75.0%), "
        "at least 100 users judged"
    )
    assert [c.passed for c in decision.checks] == [True, True, True, False, True]


def test_a_ruined_slice_under_min_slice_users_is_not_judged():
    slices = {"country=IS": (metrics(0.0, 99), metrics(0.3, 99))}
    decision = gate.decide(evaluation(metrics(0.2), metrics(0.2), slices), SETTINGS, "v1")
    assert decision.passed and not any(c.name.startswith("slice") for c in decision.checks)
    stricter = SETTINGS.model_copy(update={"gate": SETTINGS.gate.model_copy(update={"min_slice_users": 50})})
    assert not gate.decide(evaluation(metrics(0.2), metrics(0.2), slices), stricter, "v1").passed


def test_a_collapse_of_catalogue_coverage_is_refused_with_the_same_metric():
    collapsed = gate.decide(
        evaluation(metrics(0.2, coverage=0.1), metrics(0.2, coverage=0.3)), SETTINGS, "v1"
    )
    assert not collapsed.passed
    assert collapsed.reason == (
        "coverage@10: at least 50% of served v1: 10.0% of the catalogue vs 30.0% for served v1"
    )
    kept = gate.decide(evaluation(metrics(0.2, coverage=0.16), metrics(0.2, coverage=0.3)), SETTINGS, "v1")
    assert kept.passed


def test_without_a_served_version_coverage_has_no_reference_and_no_check():
    overall = {"model": metrics(0.2, coverage=0.01), "popular": metrics(0.05, coverage=0.34)}
    decision = gate.decide(Evaluation(k=10, ks=[10], overall=overall), SETTINGS, None)
    assert decision.passed and [c.name for c in decision.checks] == ["beats popular by 0%"]


# --- churn ---------------------------------------------------------------------------------------


def test_overlap_at_k_and_data_change_on_known_answers():
    a = np.array([[1, 2, 3, 4], [5, 6, 7, -1]])
    b = np.array([[4, 3, 9, 8], [5, 6, 7, -1]])
    assert churn.overlap_at_k(a, b, 4) == pytest.approx((2 / 4 + 3 / 4) / 2)
    assert churn.overlap_at_k(a, b, 2) == pytest.approx((0 + 1) / 2)
    assert churn.data_change("100x50:1000:abc", "104x50:1100:def") == pytest.approx(0.1)
    with pytest.raises(churn.ChurnError, match="must read 'USERSxITEMS:NNZ:HASH'"):
        churn.data_change("garbage", "104x50:1100:def")


@pytest.fixture(scope="module")
def served():
    data = synthetic_interactions()
    params = ALSParams(factors=16, regularization=1.0, alpha=5.0, iterations=10)
    return data, params, train.fit(data, params)


def measure(data: Interactions, served_model, candidate_model, served_fingerprint: str | None = None):
    return churn.churn(
        (served_model.user_factors, served_model.item_factors),
        (data.user_ids, data.item_ids),
        served_fingerprint or data.fingerprint(),
        (candidate_model.user_factors, candidate_model.item_factors),
        data,
        10,
    )


def test_a_refit_on_the_same_data_keeps_the_lists_and_passes(served):
    data, params, model = served
    measured = measure(data, model, train.fit(data, params))
    assert measured.overlap > 0.8 and measured.users == data.shape[0] and measured.data_change == 0
    same_metric = evaluation(metrics(0.2), metrics(0.2))
    assert gate.decide(same_metric, SETTINGS, "v1", measured).passed


def test_lists_shuffled_across_users_with_the_same_metric_are_refused_as_churn(served):
    data, params, model = served
    shuffled = train.fit(data, params)
    shuffled.user_factors = shuffled.user_factors[np.random.default_rng(1).permutation(data.shape[0])]
    measured = measure(data, model, shuffled)
    assert measured.overlap < 0.15
    decision = gate.decide(evaluation(metrics(0.2), metrics(0.2)), SETTINGS, "v1", measured)
    assert not decision.passed
    assert decision.reason.startswith(
        "overlap@10 with served v1: at least 20% while the data changed little: "
    )
    assert "data changed 0.0% (<= 10%: judged)" in decision.reason


def test_churn_after_a_real_change_of_data_is_not_judged(served):
    data, params, model = served
    shuffled = train.fit(data, params)
    shuffled.user_factors = shuffled.user_factors[::-1].copy()
    users, items = data.shape
    before = f"{users}x{items}:{data.user_items.nnz // 2}:0"  # the served fit saw half the interactions
    measured = measure(data, model, shuffled, before)
    check = gate.churn_check(measured, SETTINGS.gate, "v1")
    assert measured.data_change == pytest.approx(1.0, abs=0.01) and check.passed
    assert check.detail.endswith("(> 10%: not judged)")
