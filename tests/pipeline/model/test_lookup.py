"""`recs recommend`: a version's lists read from its artifact equal what precompute would store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline import cli
from pipeline.data import interactions, warehouse
from pipeline.model import artifact, lookup, train
from pipeline.model.tune import TuningRecord
from pipeline.precompute import recommend
from pipeline.settings import ALSParams
from tests.model_data import WEIGHTS, meta_for

PARAMS = ALSParams(factors=8, regularization=1.0, alpha=2.0, iterations=4)


@pytest.fixture(scope="module")
def saved(warehouse_file, tmp_path_factory):
    path, _ = warehouse_file
    rules = interactions.InteractionRules(WEIGHTS)
    with warehouse.connect(path, read_only=True) as con:
        data = interactions.load_matrix(con, rules)
        seen = interactions.seen_matrix(con, None, data)
    model = train.fit(data, PARAMS)
    root = tmp_path_factory.mktemp("artifacts")
    tuning = TuningRecord(source="search", best=PARAMS, trials=[], tuned_at="x", start=PARAMS)
    for status in ("passed", "refused"):  # the refused one is newer: the default must skip it
        gate = meta_for("x").gate.model_copy(update={"passed": status == "passed"})
        meta = artifact.describe(
            artifact.new_version(),
            tuning=tuning,
            configured=PARAMS,
            evaluation=meta_for("x").evaluation,
            gate=gate,
            data_fingerprint=data.fingerprint(),
            k=10,
        )
        artifact.save(artifact.Artifact(model, data.user_ids, data.item_ids, meta), root)
    return data, seen, model, root, path


def test_the_lists_are_precomputes_lists_for_the_same_users(saved):
    data, seen, model, root, path = saved
    version = lookup.pick_version(root, None)
    assert artifact.load_meta(root, version).status == "passed"
    users = [str(u) for u in data.user_ids[[0, 7, 42]]]
    got = lookup.recommend(artifact.load(root, version), users, 10, path)
    expected = recommend.top_k_for_users(model, seen, 10, users=np.array([0, 7, 42]))
    for lists, ids in zip(got, expected.ids, strict=True):
        assert lists.known
        assert [item for item, _ in lists.items] == [str(data.item_ids[j]) for j in ids]
        assert not set(lists.history) & {item for item, _ in lists.items}  # nothing already touched
        assert 0 < len(lists.history) <= lookup.HISTORY_ITEMS


def test_an_unknown_user_is_named_as_such_and_gets_no_personal_list(saved):
    _, _, _, root, path = saved
    [lists] = lookup.recommend(artifact.load(root, lookup.pick_version(root, None)), ["nobody#1"], 5, path)
    assert not lists.known and lists.items == [] and lists.history == []
    assert "popular fallback" in lookup.render(lists, {}, "v")


def test_a_missing_version_or_names_file_is_a_clear_error(saved, tmp_path):
    _, _, _, root, _ = saved
    with pytest.raises(lookup.ArtifactLookupError, match="no artifact of version nope"):
        lookup.pick_version(root, "nope")
    with pytest.raises(lookup.ArtifactLookupError, match="passed the quality gate"):
        lookup.pick_version(tmp_path, None)
    bad = tmp_path / "names.csv"
    bad.write_text("sku,title\n1,x\n")
    with pytest.raises(lookup.ArtifactLookupError, match="needs item_id and name columns"):
        lookup.item_names(bad)


def test_recs_recommend_prints_names_and_json(saved, tmp_path, monkeypatch, capsys):
    data, _, _, root, path = saved
    user, names = str(data.user_ids[3]), tmp_path / "names.csv"
    names.write_text("item_id,name\n" + "".join(f"{i},Product {i}\n" for i in data.item_ids))
    monkeypatch.setenv("RECS_ARTIFACTS_DIR", str(root))
    monkeypatch.setenv("RECS_WAREHOUSE", str(path))
    assert cli.main(["recommend", user, "--k", "3", "--names", str(names)]) == 0
    text = capsys.readouterr().out
    assert f"user {user}" in text and text.count("Product ") >= 3 and "touched:" in text
    assert cli.main(["recommend", user, "--k", "3", "--json"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["user_id"] == user and len(line["items"]) == 3 and line["known"]
