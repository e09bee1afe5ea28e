"""New items: exploration slots only for matching tastes, never for an item a rule excludes."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import scipy.sparse as sp

import contract
from pipeline.data import warehouse
from pipeline.data.catalog import load_catalog
from pipeline.data.ingest import ingest
from pipeline.precompute import explore, recommend
from pipeline.precompute.recommend import TopK
from pipeline.publish import writer

# four model items: 0, 1 are tea, 2, 3 are garden; user 0 buys tea, user 1 garden, user 2 nothing
CATEGORIES = np.array(["food/tea", "food/tea", "garden", "garden"], dtype=object)
USER_ITEMS = sp.csr_matrix(np.array([[5.0, 0, 0, 0], [0, 0, 3.0, 1.0], [0, 0, 0, 0]], dtype=np.float32))
NEW = explore.NewItems(
    np.array(["new-tea", "new-toy", "new-garden"]), np.array(["food/tea", "toys", "garden"])
)


def lists(width: int = 4) -> TopK:
    ids = np.array([[1, 2, 3, -1], [0, 1, 3, -1], [0, 1, 2, 3]], dtype=np.int32)[:, :width]
    scores = np.array([[0.9, 0.5, 0.4, 0], [0.8, 0.7, 0.2, 0], [0.6, 0.5, 0.4, 0.3]], dtype=np.float32)[
        :, :width
    ]
    return TopK(ids, scores)


def test_new_items_go_to_users_whose_taste_matches_their_category():
    explored = explore.explore(lists(), USER_ITEMS, CATEGORIES, NEW, k=3, share=0.34)  # one slot
    tea, garden = 4 + 0, 4 + 2  # new item j is index len(CATEGORIES) + j
    assert explored.ids[0].tolist() == [1, 2, tea, 3]  # the tea buyer: new tea in the last of 3 slots
    assert explored.ids[1].tolist() == [0, 1, garden, 3]
    assert explored.ids[2].tolist() == [0, 1, 2, 3]  # no taste for any category: nothing new
    assert not (explored.ids == 4 + 1).any()  # the toy: nobody spends on toys
    for row in explored.scores:  # a new item takes its slot's score: lists stay in score order
        assert row[: (row > 0).sum()].tolist() == sorted(row[: (row > 0).sum()].tolist(), reverse=True)
    assert explored.scores[0].tolist()[:3] == [np.float32(0.9), np.float32(0.5), np.float32(0.4)]


def test_no_share_or_no_new_items_changes_nothing():
    top = lists()
    assert explore.explore(top, USER_ITEMS, CATEGORIES, NEW, k=3, share=0.0) is top
    assert explore.explore(top, USER_ITEMS, CATEGORIES, explore.NONE, k=3, share=0.2) is top
    assert explore.slots(50, 0.1) == 5 and explore.slots(3, 0.1) == 1


def test_new_items_are_recent_available_unknown_and_not_excluded(tmp_path):
    events = pd.DataFrame(
        {"user_id": ["u"], "item_id": ["old"], "event_type": ["view"], "ts": [datetime(2026, 3, 31)]}
    )
    events.to_parquet(tmp_path / "e.parquet", index=False)
    items = pd.DataFrame(
        {
            "item_id": ["old", "fresh", "gone", "stale", "POST", "nocat"],
            "category": ["a", "a", "a", "a", "a", None],
            "available": ["true", "true", "false", "true", "true", "true"],
            "created_at": [
                "2026-03-30",
                "2026-03-25",
                "2026-03-30",
                "2026-01-01",
                "2026-03-30",
                "2026-03-30",
            ],
        }
    )
    items.to_csv(tmp_path / "items.csv", index=False)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        assert len(explore.new_items(con, np.array(["old"]), 14)) == 0  # no catalog yet
        ingest(con, [tmp_path / "e.parquet"])
        load_catalog(con, [tmp_path / "items.csv"])
        found = explore.new_items(con, np.array(["old"]), 14, exclude_regex="POST")
        assert found.item_ids.tolist() == ["fresh"]
        assert len(explore.new_items(con, np.array(["old"]), 0)) == 0


def test_rows_mark_the_new_items_and_decode_their_positions():
    users, categories, new_ids = explore.with_new_items(lists(), USER_ITEMS, CATEGORIES, NEW, 3, 0.34)
    assert new_ids is not None and categories is not None
    pre = recommend.Precomputed(
        user_ids=np.array(["u0", "u1", "u2"]),
        item_ids=np.array(["t1", "t2", "g1", "g2"]),
        users=users,
        similar=TopK(np.full((4, 1), -1, np.int32), np.zeros((4, 1), np.float32)),
        popular={"global": TopK(np.array([[0, 2]], np.int32), np.array([[0.5, 0.4]], np.float32))},
        k=3,
        categories=categories,
        new_item_ids=new_ids,
    )
    rows = list(writer.version_rows("v1", pre, 1_900_000_000))
    first = contract.decode_row(rows[0], writer.category_table(pre))
    assert first.item_ids == ("t2", "g1", "new-tea", "g2") and first.new == (2,)
    assert first.categories == ("food/tea", "garden", "food/tea", "garden")
    assert "new" not in rows[2]  # the user without taste: no exploration attribute at all
