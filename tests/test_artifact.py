"""The versioned artifact: what it carries, that loading it reproduces the same top-k, versions."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import numpy as np
import pytest

from pipeline import artifact, recommend, train
from pipeline.settings import ALSParams
from tests.model_data import synthetic_interactions

PARAMS = ALSParams(factors=8, regularization=1.0, alpha=2.0, iterations=4)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    data = synthetic_interactions()
    model = train.fit(data, PARAMS)
    root = tmp_path_factory.mktemp("artifacts")
    meta = {
        "status": "passed",
        "params": PARAMS.model_dump(),
        "tuning": {
            "source": "search",
            "best": PARAMS.model_dump(),
            "trials": [{"trial": 0}],
            "tuned_at": "x",
        },
        "metrics": {"model": {"ndcg@10": 0.3}, "popular": {"ndcg@10": 0.1}},
        "data_fingerprint": artifact.fingerprint(data),
    }
    version = artifact.new_version()
    path = artifact.save(artifact.Artifact(version, model, data.user_ids, data.item_ids, meta), root)
    return data, model, root, version, path


def test_loading_reproduces_the_same_top_k_exactly(saved):
    data, model, root, version, _ = saved
    loaded = artifact.load(root, version)
    before = recommend.top_k_for_users(model, data.user_items, 10)
    after = recommend.top_k_for_users(loaded.model, data.user_items, 10)
    np.testing.assert_array_equal(before.ids, after.ids)
    np.testing.assert_array_equal(before.scores, after.scores)
    np.testing.assert_array_equal(loaded.user_ids, data.user_ids)
    np.testing.assert_array_equal(loaded.item_ids, data.item_ids)


def test_meta_carries_params_tuning_metrics_fingerprint_code_and_library_versions(saved):
    _, _, root, version, path = saved
    meta = json.loads((path / "meta.json").read_text())
    assert meta["version"] == version
    assert meta["params"]["factors"] == 8 and meta["tuning"]["trials"] == [{"trial": 0}]
    assert meta["metrics"]["model"]["ndcg@10"] == 0.3
    assert re.fullmatch(r"\d+x\d+:\d+:[0-9a-f]{16}", meta["data_fingerprint"])
    assert re.fullmatch(r"git:[0-9a-f]{40}(\+dirty)?|recs \S+", meta["code_version"])
    assert {"python", "implicit", "numpy", "scipy", "duckdb"} <= set(meta["libraries"])
    assert artifact.load_meta(root, version) == meta


def test_ids_are_stored_without_pickle(saved):
    *_, path = saved
    with np.load(path / "ids.npz", allow_pickle=False) as ids:
        assert ids["user_ids"].dtype.kind == "U" and ids["item_ids"].dtype.kind == "U"


def test_versions_sort_by_time_and_are_unique():
    early = artifact.new_version(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    late = artifact.new_version(datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC))
    same_second = {artifact.new_version(datetime(2026, 1, 2, tzinfo=UTC)) for _ in range(50)}
    assert early.startswith("20260102T030405Z-") and sorted([late, early]) == [early, late]
    assert len(same_second) == 50


def test_a_version_is_never_overwritten(saved):
    data, model, root, version, _ = saved
    with pytest.raises(FileExistsError):
        artifact.save(artifact.Artifact(version, model, data.user_ids, data.item_ids, {}), root)


def test_loading_a_missing_version_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model artifact for version v-missing"):
        artifact.load(tmp_path, "v-missing")


def test_the_fingerprint_follows_the_data():
    data = synthetic_interactions()
    again = synthetic_interactions()
    assert artifact.fingerprint(data) == artifact.fingerprint(again)
    changed = data.user_items.copy()
    changed.data[0] += 1
    assert artifact.fingerprint(type(data)(changed, data.user_ids, data.item_ids)) != artifact.fingerprint(
        data
    )


def test_last_search_is_the_newest_searched_record_not_a_reused_one(saved, tmp_path):
    data, model, *_ = saved

    def save(when: int, tuning: dict) -> str:
        version = artifact.new_version(datetime(2026, 1, when, tzinfo=UTC))
        meta = {"tuning": tuning}
        artifact.save(artifact.Artifact(version, model, data.user_ids, data.item_ids, meta), tmp_path)
        return version

    assert artifact.last_search(tmp_path) is None
    first = save(1, {"source": "search", "tuned_at": "2026-01-01T00:00:00+00:00"})
    second = save(2, {"source": "search", "tuned_at": "2026-01-02T00:00:00+00:00"})
    save(3, {"source": "reused", "from_version": second})
    assert artifact.last_search(tmp_path)["version"] == second
    assert [m["version"] for m in artifact.history(tmp_path)][:2] == [first, second]
