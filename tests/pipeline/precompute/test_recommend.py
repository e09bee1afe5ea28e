"""Top-k scoring: the fast kernel returns exactly what a brute-force numpy ranking returns."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp

from pipeline.precompute import recommend, scoring


def brute_force(query, items, k, exclude):
    """Rank every allowed item by score, ties by lower index (a stable argsort)."""
    scores = query @ items.T
    k = min(k, items.shape[0])
    ids = np.full((len(query), k), -1, np.int32)
    top = np.zeros((len(query), k), np.float32)
    for r in range(len(query)):
        allowed = np.setdiff1d(np.arange(items.shape[0]), exclude[r].indices)
        ranked = allowed[np.argsort(-scores[r, allowed], kind="stable")][:k]
        ids[r, : len(ranked)], top[r, : len(ranked)] = ranked, scores[r, ranked]
    return ids, top


def random_case(seed, users=120, items=700, factors=16, density=0.05, integer=False):
    rng = np.random.default_rng(seed)
    query = rng.standard_normal((users, factors)).astype(np.float32)
    item_factors = rng.standard_normal((items, factors)).astype(np.float32)
    if integer:  # small integer factors: many exactly equal scores
        query, item_factors = np.round(query), np.round(item_factors)
    exclude = sp.random(users, items, density=density, format="csr", random_state=seed, dtype=np.float32)
    return query, item_factors, exclude


CASES = [
    # seed, k, block_rows, tile_items, integer, density
    (0, 10, 256, 2048, False, 0.05),  # the default shape: one tile, the probe floor in use
    (1, 50, 7, 64, False, 0.05),  # many blocks and tiles, ragged last ones
    (2, 5, 32, 512, True, 0.05),  # ties everywhere
    (3, 25, 16, 100, True, 0.5),  # ties and half of the items excluded
    (4, 1, 1, 1, False, 0.1),  # one row per block, one item per tile
    (5, 3, 64, 4096, False, 0.0),  # nothing excluded
]


@pytest.mark.parametrize(("seed", "k", "block_rows", "tile_items", "integer", "density"), CASES)
def test_top_k_equals_brute_force(seed, k, block_rows, tile_items, integer, density):
    query, items, exclude = random_case(seed, integer=integer, density=density)
    ids, scores = scoring.top_k(query, items, k, exclude, block_rows=block_rows, tile_items=tile_items)
    want_ids, want_scores = brute_force(query, items, k, exclude)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("scan_by_norm", [True, False])
def test_scan_order_does_not_change_the_answer(scan_by_norm):
    query, items, exclude = random_case(7, integer=True)
    got = scoring.top_k(query, items, 20, exclude, scan_by_norm=scan_by_norm, tile_items=128)
    np.testing.assert_array_equal(got[0], brute_force(query, items, 20, exclude)[0])


def test_seen_items_never_appear_and_rows_pad_with_minus_one():
    query, items, _ = random_case(8, users=30, items=40)
    exclude = sp.random(30, 40, density=0.9, format="lil", random_state=8, dtype=np.float32)
    exclude[0] = 1.0  # the first user has seen everything
    exclude = exclude.tocsr()
    ids, scores = scoring.top_k(query, items, 10, exclude)
    for r in range(30):
        assert not set(ids[r][ids[r] >= 0]) & set(exclude[r].indices)
        allowed = 40 - exclude[r].nnz
        assert (ids[r, : min(10, allowed)] >= 0).all() and (ids[r, min(10, allowed) :] == -1).all()
    assert (ids[0] == -1).all() and (scores[0] == 0).all()


def test_equal_scores_rank_the_lower_item_first():
    query = np.zeros((3, 4), np.float32)  # every score is 0
    items = np.ones((500, 4), np.float32)
    exclude = sp.csr_matrix(([1.0, 1.0], ([1, 1], [0, 2])), shape=(3, 500))
    ids, _ = scoring.top_k(query, items, 5, exclude)
    np.testing.assert_array_equal(ids[0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(ids[1], [1, 3, 4, 5, 6])


def test_threads_and_blocks_do_not_change_the_answer():
    query, items, exclude = random_case(9, users=300)
    one = scoring.top_k(query, items, 15, exclude, threads=1, block_rows=300)
    many = scoring.top_k(query, items, 15, exclude, threads=3, block_rows=17, tile_items=77)
    np.testing.assert_array_equal(one[0], many[0])
    np.testing.assert_allclose(one[1], many[1], rtol=1e-5)  # BLAS rounds differently per tile shape


def test_bad_shapes_are_refused_with_the_rule():
    query, items, exclude = random_case(10)
    with pytest.raises(ValueError, match="same number of factors"):
        scoring.top_k(query[:, :3], items, 5, exclude)
    with pytest.raises(ValueError, match="one row per query row"):
        scoring.top_k(query[:5], items, 5, exclude)
    with pytest.raises(ValueError, match="k must be at least 1"):
        scoring.top_k(query, items, 0, exclude)


def test_top_k_for_users_matches_brute_force_for_a_subset_of_users():
    query, items, exclude = random_case(11)
    model = SimpleNamespace(user_factors=query, item_factors=items)
    users = np.array([5, 0, 77, 5])
    top = recommend.top_k_for_users(model, exclude, 12, users)
    want = brute_force(query[users], items, 12, exclude[users])[0]
    np.testing.assert_array_equal(top.ids, want)
    assert top.row(0)[0].tolist() == want[0].tolist()


def test_top_k_for_users_agrees_with_implicit_on_a_trained_model():
    from implicit.cpu.als import AlternatingLeastSquares

    _, _, user_items = random_case(12, users=200, items=300, density=0.05)
    model = AlternatingLeastSquares(factors=8, iterations=3, random_state=0)
    model.fit(user_items, show_progress=False)
    ours = recommend.top_k_for_users(model, user_items, 10)
    theirs = recommend.recommend_batches(model, user_items, 10)
    # implicit breaks exact ties differently; the scores per rank must agree
    np.testing.assert_allclose(ours.scores, theirs.scores, rtol=1e-4, atol=1e-5)
    assert (ours.ids == theirs.ids).mean() > 0.99


def test_similar_items_excludes_the_item_itself_and_ranks_by_cosine():
    rng = np.random.default_rng(13)
    factors = rng.standard_normal((60, 6)).astype(np.float32)
    top = recommend.similar_items(SimpleNamespace(item_factors=factors), 5)
    unit = factors / np.linalg.norm(factors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    np.fill_diagonal(cosine, -np.inf)
    np.testing.assert_array_equal(top.ids, np.argsort(-cosine, axis=1, kind="stable")[:, :5])


def test_a_segment_named_global_or_unservable_never_replaces_the_global_list():
    """Issue #12, item 9: a data segment called "global" would have overwritten the global popular list."""
    import pandas as pd

    from pipeline.precompute.recommend import popular_by_segment

    # users 0-2 like item 0, users 3-4 (segment "global") like item 1 only
    rows, cols = [0, 1, 2, 3, 4], [0, 0, 0, 1, 1]
    user_items = sp.csr_matrix((np.ones(5, dtype=np.float32), (rows, cols)), shape=(5, 2))
    segments = pd.Series(["FR", "FR", "a,b", "global", "global"], index=range(5))
    popular = popular_by_segment(user_items, segments, k=2)
    assert sorted(popular) == ["FR", "global"]  # "a,b" breaks the id rule: it could never be asked for
    assert popular["global"].ids[0].tolist() == [0, 1]  # every user's counts, item 0 first
    assert popular["FR"].ids[0].tolist()[:1] == [0]
