"""The versioned artifact: what it carries, that loading it reproduces the same top-k, versions."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import numpy as np
import pytest

from pipeline.model import artifact, train
from pipeline.model.tune import TuningRecord
from pipeline.precompute import recommend
from pipeline.settings import ALSParams
from tests.model_data import meta_for, synthetic_interactions

PARAMS = ALSParams(factors=8, regularization=1.0, alpha=2.0, iterations=4)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    data = synthetic_interactions()
    model = train.fit(data, PARAMS)
    root = tmp_path_factory.mktemp("artifacts")
    tuning = TuningRecord(source="search", best=PARAMS, trials=[{"trial": 0}], tuned_at="x", start=PARAMS)
    meta = artifact.describe(
        artifact.new_version(),
        tuning=tuning,
        configured=PARAMS,
        evaluation=meta_for("x").evaluation,
        gate=meta_for("x").gate,
        data_fingerprint=data.fingerprint(),
        k=10,
    )
    path = artifact.save(artifact.Artifact(model, data.user_ids, data.item_ids, meta), root)
    return data, model, root, meta.version, path


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
    assert meta["version"] == version and meta["schema_version"] == artifact.META_SCHEMA_VERSION
    assert meta["params"]["factors"] == 8 and meta["tuning"]["trials"] == [{"trial": 0}]
    assert meta["evaluation"]["overall"]["model"]["ndcg@10"] == 0.3
    assert re.fullmatch(r"\d+x\d+:\d+:[0-9a-f]{16}", meta["data_fingerprint"])
    assert re.fullmatch(r"git:[0-9a-f]{40}(\+dirty)?|recs \S+", meta["code_version"])
    assert {"python", "implicit", "numpy", "scipy", "duckdb"} <= set(meta["libraries"])
    loaded = artifact.load_meta(root, version)
    assert loaded.model_dump(mode="json") == meta
    assert loaded.metrics["model"]["ndcg@10"] == 0.3 and loaded.status == "passed"


def test_a_meta_of_the_first_layout_still_loads(tmp_path):
    """meta.json as the first version of the flow wrote it: no schema_version, metrics beside the
    evaluation, the gate and the tuning record as plain dicts."""
    params = PARAMS.model_dump()
    overall = {"model": {"ndcg@10": 0.25}, "popular": {"ndcg@10": 0.1}}
    first = {
        "version": "20261122T124017Z-84ffee",
        "code_version": "git:" + "0" * 40,
        "libraries": {"python": "3.11.7", "implicit": "0.7.3"},
        "status": "refused",
        "params": params,
        "configured_params": params,
        "tuning": {"source": "reused", "best": params, "metric": "ndcg@10", "trials": [{"trial": 0}],
                   "tuned_at": "2026-11-22T12:40:17+00:00", "seconds": 1.5, "start": params,
                   "from_version": "20261121T020000Z-aaaaaa"},
        "metrics": overall,
        "evaluation": {"k": 10, "ks": [5, 10, 20], "overall": overall, "slices": {}, "curve": {}},
        "gate": {"passed": False, "reason": "too weak",
                 "checks": [{"name": "beats popular by 0%", "value": 0.25, "needed": 0.3, "passed": False}]},
        "data_fingerprint": "4317x3640:80000:0123456789abcdef",
        "k": 50,
    }  # fmt: skip
    (tmp_path / first["version"]).mkdir()
    (tmp_path / first["version"] / "meta.json").write_text(json.dumps(first))
    meta = artifact.load_meta(tmp_path, first["version"])
    assert meta.schema_version == 1 and meta.status == "refused" and meta.metrics == overall
    assert meta.tuning.from_version == "20261121T020000Z-aaaaaa" and meta.params == PARAMS
    assert meta.gate.checks[0].needed == 0.3 and meta.k == 50


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
        artifact.save(artifact.Artifact(model, data.user_ids, data.item_ids, meta_for(version)), root)


def test_loading_a_missing_version_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model artifact for version v-missing"):
        artifact.load(tmp_path, "v-missing")


def test_the_fingerprint_follows_the_data():
    data = synthetic_interactions()
    again = synthetic_interactions()
    assert data.fingerprint() == again.fingerprint()
    changed = data.user_items.copy()
    changed.data[0] += 1
    assert type(data)(changed, data.user_ids, data.item_ids).fingerprint() != data.fingerprint()


def test_last_search_is_the_newest_searched_record_not_a_reused_one(saved, tmp_path):
    data, model, *_ = saved

    def save(when: int, tuning: TuningRecord) -> str:
        version = artifact.new_version(datetime(2026, 1, when, tzinfo=UTC))
        meta = meta_for(version, tuning=tuning)
        artifact.save(artifact.Artifact(model, data.user_ids, data.item_ids, meta), tmp_path)
        return version

    assert artifact.last_search(tmp_path) is None
    first = save(1, TuningRecord(source="search", best=PARAMS, tuned_at="2026-01-01T00:00:00+00:00"))
    searched = TuningRecord(source="search", best=PARAMS, tuned_at="2026-01-02T00:00:00+00:00")
    second = save(2, searched)
    save(3, TuningRecord(source="reused", best=PARAMS, from_version=second))
    assert artifact.last_search(tmp_path) == (second, searched)
    assert [m.version for m in artifact.history(tmp_path)][:2] == [first, second]
