"""Rules at precompute: no unavailable item stored, lists still full, repeats by category, categories
on the rows, and rows within one write unit at the default depth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import contract
from pipeline.data import warehouse
from pipeline.data.catalog import load_catalog
from pipeline.data.interactions import Interactions
from pipeline.model import train
from pipeline.precompute import recommend, rules
from pipeline.publish import writer
from pipeline.settings import ALSParams, PipelineSettings
from tests.model_data import synthetic_interactions
from tests.pipeline.precompute.test_recommend import brute_force


@pytest.fixture(scope="module")
def fitted():
    data = synthetic_interactions()
    model = train.fit(data, ALSParams(factors=8, iterations=3), use_gpu=False)
    return data, model


def some_unavailable(n_items: int, seed: int = 0) -> np.ndarray:
    available = np.ones(n_items, dtype=bool)
    available[np.random.default_rng(seed).choice(n_items, size=n_items // 4, replace=False)] = False
    return available


def test_user_lists_are_the_brute_force_ranking_among_available_items(fitted):
    data, model = fitted
    available = some_unavailable(data.shape[1])
    top = rules.score_range(model, data.user_items, 15, range(10, 60), available)
    allowed = sp.csr_matrix(data.user_items[10:60] + sp.csr_matrix(np.tile(~available, (50, 1))))
    ids, _ = brute_force(model.user_factors[10:60], model.item_factors, 15, allowed)
    assert top.ids.shape == (50, 15)
    np.testing.assert_array_equal(top.ids, ids)
    assert available[top.ids[top.ids >= 0]].all()


def test_similar_items_leave_out_unavailable_items_and_the_item_itself(fitted):
    data, model = fitted
    available = some_unavailable(data.shape[1], seed=1)
    top = rules.similar_available(model, 10, available)
    assert top.ids.shape == (data.shape[1], 10)
    assert (top.ids >= 0).all()  # every list full: 150 items remain
    assert available[top.ids].all()
    assert not (top.ids == np.arange(data.shape[1])[:, None]).any()
    full = recommend.similar_items(model, 40)
    for j in (0, 7, 199):  # the same order as the unfiltered list, with the unavailable items taken out
        kept = [i for i in full.ids[j] if available[i]][:10]
        assert top.ids[j].tolist() == kept


def test_popular_lists_skip_unavailable_items_and_stay_k_long(fitted):
    data, _ = fitted
    available = some_unavailable(data.shape[1], seed=2)
    segments = pd.Series(["GB" if u % 2 else "FR" for u in range(data.shape[0])])
    lists = rules.popular_available(data.user_items, segments, 20, available)
    assert set(lists) == {"global", "GB", "FR"}
    unfiltered = recommend.popular_by_segment(data.user_items, segments, 60)["global"].ids[0]
    assert lists["global"].ids[0].tolist() == [i for i in unfiltered if available[i]][:20]
    for top in lists.values():
        assert (top.ids[0] >= 0).sum() == 20 and available[top.ids[0]].all()


def test_repeat_categories_come_back_and_others_stay_excluded(fitted):
    data, _ = fitted
    categories = np.array(["food/tea" if j % 3 == 0 else "home" for j in range(data.shape[1])], dtype=object)
    item_rules = rules.ItemRules(np.ones(data.shape[1], dtype=bool), categories)
    seen = sp.csr_matrix(data.user_items)
    trimmed = rules.allow_repeats(seen, item_rules, ["food"])
    coo = trimmed.tocoo()
    assert coo.nnz > 0 and (coo.col % 3 != 0).all()
    assert coo.nnz == int((seen.tocoo().col % 3 != 0).sum())
    assert rules.allow_repeats(seen, item_rules, ["foo"]) is seen  # "foo" is not a path above "food/tea"


def test_item_rules_read_the_current_catalog(tmp_path):
    path = tmp_path / "items.csv"
    pd.DataFrame({"item_id": ["a", "b"], "category": ["x/y", "z"], "available": ["true", "false"]}).to_csv(
        path, index=False
    )
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        assert rules.item_rules(con, np.array(["a"])).categories is None  # no catalog yet
        load_catalog(con, [path])
        found = rules.item_rules(con, np.array(["b", "a", "not-in-catalog"]))
    assert found.available.tolist() == [False, True, True]
    assert found.categories is not None and found.categories.tolist() == ["z", "x/y", None]


def test_rows_carry_each_items_category(fitted):
    data, model = fitted
    categories = np.array([f"c{j % 5}/s{j % 2}" for j in range(data.shape[1])], dtype=object)
    pre = precomputed(data, model, k=5, spare=0, categories=categories)
    row = next(writer.version_rows("v1", pre, 1_900_000_000))
    table = writer.category_table(pre)
    assert table is not None and table.names == tuple(sorted(set(categories)))
    ranked = contract.decode_row(row, table)
    assert ranked.categories == tuple(categories[data.item_ids.tolist().index(i)] for i in ranked.item_ids)
    assert len(row["cats"]["S"]) == len(ranked.item_ids)  # ten categories: one character a code


def precomputed(data, model, k: int, spare: int, categories=None) -> recommend.Precomputed:
    available = np.ones(data.shape[1], dtype=bool)
    return recommend.Precomputed(
        user_ids=data.user_ids,
        item_ids=data.item_ids,
        users=rules.score_range(model, data.user_items, k + spare, range(data.shape[0]), available),
        similar=rules.similar_available(model, 5 + spare, available),
        popular=rules.popular_available(data.user_items, None, k + spare, available),
        k=k,
        categories=categories,
    )


def test_row_size_at_the_default_k_and_candidates(fitted):
    """The sample shop's id and category shapes (``85123A``, ``home/kitchen``) at the default depth."""
    data, model = fitted
    defaults = PipelineSettings()
    shop_ids = np.array([f"{85000 + j}{'ABC'[j % 3] if j % 2 else ''}" for j in range(data.shape[1])])
    names = ["home/kitchen", "home/decor", "home/lighting", "jewellery", "stationery", "bags", "christmas"]
    categories = np.array([names[j % len(names)] for j in range(data.shape[1])], dtype=object)
    shop = Interactions(data.user_items, data.user_ids, shop_ids)
    measured = {}
    for label, cats in (("with categories", categories), ("without categories", None)):
        pre = precomputed(shop, model, defaults.k, defaults.candidates, cats)
        rows = writer.version_rows("20261122T021500Z-3f9a1c", pre, 1_790_000_000)
        users = [contract.item_size(next(rows)) for _ in range(len(data.user_ids))]
        measured[label] = (float(np.mean(users)), max(users))
        print(
            f"user rows, k={defaults.k}+{defaults.candidates}, {label}: "
            f"mean {np.mean(users):.0f} B, max {max(users)} B"
        )
    assert len(contract.decode_row(next(writer.version_rows("v", pre, 1))).item_ids) == 60
    # layout 1 (JSON arrays, category paths on every row) measured mean 1,223 B, max 1,283 B with
    # categories (two write units) and mean 1,006 B, max 1,066 B without; layout 2 (ids and scores
    # joined by commas, a one-character category code) measured mean 886 B, max 946 B with
    # categories and mean 822 B, max 882 B without: one write unit
    assert 800 < measured["without categories"][0] < measured["with categories"][0]
    assert measured["with categories"][1] < contract.WRITE_UNIT_BYTES


def test_nothing_available_gives_empty_lists_not_an_error(fitted):
    data, model = fitted
    nothing = np.zeros(data.shape[1], dtype=bool)
    assert (rules.score_range(model, data.user_items, 5, range(0, 7), nothing).ids == -1).all()
    assert (rules.similar_available(model, 5, nothing).ids == -1).all()
    assert (rules.popular_available(data.user_items, None, 5, nothing)["global"].ids == -1).all()


def test_item_rows_carry_the_items_name_and_category(fitted):
    data, model = fitted
    categories = np.array([f"c{j % 5}" for j in range(data.shape[1])], dtype=object)
    names = np.array([f"Item {j}, €" if j % 7 else None for j in range(data.shape[1])], dtype=object)
    pre = precomputed(data, model, k=5, spare=0, categories=categories)
    pre = recommend.Precomputed(**{**pre.__dict__, "names": names})
    rows = list(writer.version_rows("v1", pre, 1_900_000_000))
    table = writer.category_table(pre)
    decoded = {r["pk"]["S"]: contract.decode_row(r, table) for r in rows}
    for j in (0, 1, 8):
        assert decoded[contract.item_pk(data.item_ids[j])].about == (names[j], categories[j])
    assert all(ranked.about is None for pk, ranked in decoded.items() if not pk.startswith("item#"))
