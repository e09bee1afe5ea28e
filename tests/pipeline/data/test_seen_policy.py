"""The seen policy per event type: which events keep an item out of the user's own list again.

By default every event does (today's rule); ``seen_event_types`` names the types that do, e.g. a
shop where a view should not hide an item but a purchase should.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from pipeline import flow
from pipeline.data import warehouse
from pipeline.data.ingest import ingest
from pipeline.data.interactions import InteractionRules, load_matrix, seen_matrix
from pipeline.model import train
from pipeline.precompute import rules
from pipeline.settings import ALSParams, PipelineSettings
from tests.pipeline.data.logs import WEIGHTS, log

EVENTS = log(
    ("a", "viewed", "view", 0),  # a only looked at "viewed"
    ("a", "bought", "purchase", 0),
    ("a", "returned", "purchase", 0),
    ("a", "returned", "return", 1),  # a purchase taken back: still a purchase a made
    *((u, i, "purchase", d) for d, u in enumerate("bcdefg") for i in ("viewed", "bought", "other", "more")),
    ("b", "returned", "purchase", 2),
)


def lists(con, event_types) -> tuple[list[str], np.ndarray]:
    """User a's list over every item, with the items of ``event_types``' events left out."""
    data = load_matrix(con, InteractionRules(WEIGHTS))
    seen = seen_matrix(con, None, data, event_types)
    model = train.fit(data, ALSParams(factors=4, iterations=3), use_gpu=False)
    a = data.user_ids.tolist().index("a")
    top = rules.score_range(model, seen, data.shape[1], range(a, a + 1), None)
    ids, _ = top.row(0)
    return data.item_ids[ids].tolist(), seen.toarray()[a]


def test_a_viewed_item_comes_back_when_views_do_not_exclude_and_never_when_they_do(load):
    con = load(EVENTS)
    every, _ = lists(con, None)
    assert "viewed" not in every and "bought" not in every and "returned" not in every
    assert set(every) == {"other", "more"}
    purchases_only, seen = lists(con, PipelineSettings(seen_event_types=["purchase"]).seen_event_types)
    assert "viewed" in purchases_only and "bought" not in purchases_only and "returned" not in purchases_only
    assert set(purchases_only) == {"viewed", "other", "more"}
    assert int(seen.sum()) == 2  # bought, returned
    views_only, _ = lists(con, ["view"])
    assert "viewed" not in views_only and {"bought", "returned"} <= set(views_only)


def test_no_type_excludes_when_the_list_is_empty(load):
    con = load(EVENTS)
    data = load_matrix(con, InteractionRules(WEIGHTS))
    assert seen_matrix(con, None, data, []).nnz == 0
    assert seen_matrix(con, None, data, None).nnz == seen_matrix(con, None, data, list(WEIGHTS)).nnz > 0


def test_an_unknown_event_type_is_named_with_the_known_ones():
    expected = (
        r"seen_event_types names event types that event_weights does not: \['purchases', 'vieww'\]; "
        r"the event types are \['cart', 'interaction', 'purchase', 'return', 'view'\]"
    )
    with pytest.raises(ValidationError, match=expected):
        PipelineSettings(seen_event_types=["purchase", "vieww", "purchases"])
    assert PipelineSettings(seen_event_types=["interaction"]).seen_event_types == ["interaction"]
    assert PipelineSettings().seen_event_types is None


def test_the_nightly_builds_the_seen_items_with_the_settings_policy(tmp_path):
    path = tmp_path / "events.parquet"
    EVENTS.to_parquet(path, index=False)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        ingest(con, [path])
        data = load_matrix(con, InteractionRules(WEIGHTS))
    a, viewed = data.user_ids.tolist().index("a"), data.item_ids.tolist().index("viewed")
    for types, hidden in ((None, True), (["purchase"], False)):
        settings = PipelineSettings(warehouse=tmp_path / "w.duckdb", seen_event_types=types)
        seen = flow.load_seen.fn(data, settings, rules.ItemRules.none(data.shape[1]))
        assert bool(seen[a, viewed]) is hidden
