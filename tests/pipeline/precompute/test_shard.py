"""Sharded scoring and publishing produce exactly the rows of the single-process run."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from pipeline.precompute import recommend, shard
from pipeline.publish import writer


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    seen = sp.random(311, 97, density=0.08, format="csr", random_state=1, dtype=np.float32)
    seen.data[:] = 1.0
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=8, iterations=3, random_state=0)
        model.fit(seen, show_progress=False)
    user_ids = np.array([f"u{i}" for i in rng.permutation(311)])
    item_ids = np.array([f"sku-{i}" for i in range(97)])
    return model, seen, user_ids, item_ids


def version(model, seen, user_ids, item_ids, users: recommend.TopK) -> recommend.Precomputed:
    return recommend.Precomputed(
        user_ids=user_ids,
        item_ids=item_ids,
        users=users,
        similar=recommend.similar_items(model, 5),
        popular=recommend.popular_by_segment(seen, None, 10),
        k=10,
    )


@pytest.mark.parametrize(("n", "shards"), [(10, 3), (3, 10), (0, 2), (7, 1), (100, 7)])
def test_ranges_cover_every_user_once(n, shards):
    parts = shard.ranges(n, shards)
    assert [i for r in parts for i in r] == list(range(n))
    assert all(len(r) > 0 for r in parts) or n == 0
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_ranges_refuse_zero_shards():
    with pytest.raises(ValueError, match="shards must be at least 1"):
        shard.ranges(10, 0)


@pytest.mark.parametrize("shards", [1, 2, 5, 311])
def test_sharded_scoring_gives_the_single_process_rows(trained, shards):
    model, seen, user_ids, item_ids = trained
    single = version(model, seen, user_ids, item_ids, recommend.top_k_for_users(model, seen, 10))
    parts = [shard.score_range(model, seen, 10, r, threads=1) for r in shard.ranges(len(user_ids), shards)]
    sharded = version(model, seen, user_ids, item_ids, shard.concat(parts))
    assert list(writer.version_rows("v1", sharded, 123)) == list(writer.version_rows("v1", single, 123))


@pytest.mark.parametrize("shards", [1, 3, 8])
def test_rows_written_per_shard_are_the_versions_rows_once(trained, shards):
    model, seen, user_ids, item_ids = trained
    pre = version(model, seen, user_ids, item_ids, recommend.top_k_for_users(model, seen, 10))
    parts = shard.row_parts(pre, shards)
    assert len(parts) == shards
    written = [row for part in parts for row in writer.version_rows("v1", pre, 123, part)]
    assert written == list(writer.version_rows("v1", pre, 123))
    assert len(written) == pre.n_rows


@pytest.mark.parametrize(
    ("start", "stop"), [(0, 0), (0, 1), (5, 311), (300, 320), (311, 408), (407, 410), (0, 410), (410, 410)]
)
def test_a_part_of_the_rows_is_that_slice_of_the_whole_stream(trained, start, stop):
    model, seen, user_ids, item_ids = trained
    pre = version(model, seen, user_ids, item_ids, recommend.top_k_for_users(model, seen, 10))
    assert pre.n_rows == 311 + 97 + 1  # users, items, the global popular list
    stop = min(stop, pre.n_rows)
    whole = list(writer.version_rows("v1", pre, 123))
    assert list(writer.version_rows("v1", pre, 123, range(start, stop))) == whole[start:stop]


@pytest.mark.parametrize("part", [range(-1, 3), range(0, 10_000), range(0, 10, 2)])
def test_a_part_outside_the_rows_is_refused(trained, part):
    model, seen, user_ids, item_ids = trained
    pre = version(model, seen, user_ids, item_ids, recommend.top_k_for_users(model, seen, 10))
    with pytest.raises(ValueError, match="part must be a contiguous range within 0..409"):
        list(writer.version_rows("v1", pre, 123, part))


def test_the_flows_shard_task_maps_over_ranges_and_joins_in_order(prefect_harness, trained):
    from prefect import flow, unmapped

    from pipeline.fanout import score_users

    model, seen, user_ids, _ = trained

    @flow
    def score_in_shards(shards: int) -> recommend.TopK:
        slices = [shard.slice_for(model, seen, r) for r in shard.ranges(len(user_ids), shards)]
        futures = score_users.map(slices, unmapped(10))
        return shard.concat([f.result() for f in futures])

    single = recommend.top_k_for_users(model, seen, 10)
    sharded = score_in_shards(4)
    np.testing.assert_array_equal(sharded.ids, single.ids)
    np.testing.assert_array_equal(sharded.scores, single.scores)


@pytest.mark.parametrize("shards", [1, 3, 311])
def test_a_shard_slice_scores_as_the_whole_model_does_and_holds_only_its_rows(trained, shards):
    model, seen, user_ids, _ = trained
    single = recommend.top_k_for_users(model, seen, 10)
    for users in shard.ranges(len(user_ids), shards):
        part = shard.slice_for(model, seen, users)
        assert part.model.user_factors.shape == (len(users), model.factors)
        assert part.seen.shape == (len(users), seen.shape[1])
        assert part.seen.nnz == seen[users.start : users.stop].nnz
        top = recommend.top_k_for_users(part.model, part.seen, 10, np.arange(len(users)), threads=1)
        np.testing.assert_array_equal(top.ids, single.ids[users.start : users.stop])
        np.testing.assert_array_equal(top.scores, single.scores[users.start : users.stop])


def test_a_shard_slice_pickles_to_a_fraction_of_the_whole_inputs(trained):
    """What a Dask or Ray worker is sent per shard: its rows, not the model and seen matrix."""
    import pickle

    model, seen, user_ids, _ = trained
    whole = len(pickle.dumps((model.user_factors, model.item_factors, seen)))
    part = shard.slice_for(model, seen, shard.ranges(len(user_ids), 10)[3])
    sliced = len(pickle.dumps(part))
    assert sliced < whole / 3  # a tenth of the users' rows, plus every item's factors


@pytest.mark.parametrize("users", [range(-1, 3), range(0, 312), range(0, 10, 2)])
def test_a_shard_outside_the_users_is_refused(trained, users):
    model, seen, _, _ = trained
    with pytest.raises(ValueError, match="users must be a contiguous range within 0..311"):
        shard.slice_for(model, seen, users)
