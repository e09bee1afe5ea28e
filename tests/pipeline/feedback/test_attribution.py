"""The join: each event attributed to the right answer and rank, or counted as unknown; per-user
metrics with intervals over users."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.data.ingest import ingest
from pipeline.feedback.attribution import coverage, per_unit
from pipeline.feedback.impressions import ingest_impressions
from pipeline.feedback.metrics import online_metrics, ratio
from tests.pipeline.feedback.logs import json_lines, put, record

SINCE = datetime(2026, 12, 1)
NOW = datetime(2026, 12, 9)


def event(user, item, kind, at: str, rec_id=None, price=None, quantity=1.0) -> dict:
    return {
        "user_id": user,
        "item_id": item,
        "event_type": kind,
        "ts": f"2026-12-07T{at}:00Z",
        "rec_id": rec_id,
        "price": price,
        "quantity": quantity,
    }


def load(con, tmp_path, imps: list[dict], events: list[dict]):
    ingest_impressions(con, [put(tmp_path / "imp.jsonl", json_lines(imps))], now=NOW)
    ingest(con, [put(tmp_path / "ev.jsonl", json_lines(events))])


def acted(con, window: float = 24) -> dict:
    """{unit: (impressions, clicks, conversions, revenue, rank_sum)} over every group."""
    units = per_unit(con, SINCE, window)
    return {
        r.unit: (r.impressions, r.clicks, r.conversions, r.revenue, r.rank_sum) for r in units.itertuples()
    }


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # by rec_id: the item's rank in that answer
        ([event("u1", "b", "view", "18:10", "r1")], (2, 1, 0, 0.0, 2)),
        # by (user, item): the latest answer listing the item before the event (r2 lists b at rank 1)
        ([event("u1", "b", "view", "19:10")], (2, 1, 0, 0.0, 1)),
        # between the two answers: the first one
        ([event("u1", "b", "view", "18:30")], (2, 1, 0, 0.0, 2)),
        # before any answer, an item never listed, outside the window: nothing
        ([event("u1", "b", "view", "17:59"), event("u1", "z", "view", "18:30")], (2, 0, 0, 0.0, 0)),
        # a purchase with a price and quantity: conversion and revenue; the same event twice counts once
        ([event("u1", "c", "purchase", "18:20", "r1", price=2.5, quantity=2.0)] * 2, (2, 0, 1, 5.0, 3)),
        # a known rec_id whose answer did not list the item: not attributed by (user, item) either
        ([event("u1", "b", "view", "19:10", "r1-not-b")], (2, 0, 0, 0.0, 0)),
        # an unknown rec_id: never attributed, even though r2 lists b for u1
        ([event("u1", "b", "view", "19:10", "nobody-made-this")], (2, 0, 0, 0.0, 0)),
        # another user's event on a listed item: not this user's
        ([event("u2", "b", "view", "18:10")], (2, 0, 0, 0.0, 0)),
    ],
)
def test_each_event_goes_to_one_answer_or_none(con, tmp_path, events, expected):
    imps = [
        record(1, items=["a", "b", "c"]),
        record(2, items=["b", "a"], minutes=60),
        record(3, rec_id="r1-not-b", items=["a"], minutes=1),
    ]
    load(con, tmp_path, imps, events)
    found = acted(con, window=2)
    assert found["user:u1"][1:] == expected[1:]


def test_the_window_decides_attribution_without_rec_id(con, tmp_path):
    load(con, tmp_path, [record(1, items=["a"])], [event("u1", "a", "view", "20:30")])
    assert acted(con, window=2)["user:u1"][1] == 0
    assert acted(con, window=3)["user:u1"][1] == 1


def test_unknown_rec_ids_are_counted_and_named(con, tmp_path):
    events = [
        event("u1", "a", "view", "18:10", "r1"),
        event("u1", "a", "view", "18:11", "ghost#1"),
        event("u1", "a", "purchase", "18:12", "ghost#1"),
        event("u1", "a", "view", "18:13"),
    ]
    load(con, tmp_path, [record(1, items=["a"])], events)
    found = coverage(con, SINCE)
    assert (found.events, found.with_known_rec_id, found.with_unknown_rec_id, found.without_rec_id) == (
        4,
        1,
        2,
        1,
    )
    assert found.unknown_examples == ("ghost#1",)


def test_metrics_per_version_arm_and_source(con, tmp_path):
    imps = [
        record(1, user="u1", experiment="e", arm="control", items=["a"]),
        record(2, user="u1", experiment="e", arm="control", source="fallback", items=["b"], minutes=1),
        record(3, user="u2", experiment="e", arm="treatment", version="v2", items=["a"]),
        record(4, user="u3", experiment="e", arm="treatment", version="v2", items=["a"]),
        record(5, route="similar", user=None, item_id="a", items=["b"]),
    ]
    events = [event("u1", "b", "view", "18:05"), event("u2", "a", "purchase", "18:05", "r3", price=4.0)]
    load(con, tmp_path, imps, events)
    metrics, _ = online_metrics(con, SINCE, 24)
    by = {(g.grouping, tuple(g.key.values())): g for g in metrics.groups}
    control = by[(("experiment", "arm"), ("e", "control"))]
    assert (control.impressions, control.users, control.ctr.value, control.conversion.value) == (
        2,
        1,
        0.5,
        0.0,
    )
    assert control.revenue_per_user is None and control.mean_rank == 1.0
    treatment = by[(("experiment", "arm"), ("e", "treatment"))]
    assert (treatment.impressions, treatment.users, treatment.conversion.value) == (2, 2, 0.5)
    assert treatment.revenue_per_user is not None and treatment.revenue_per_user.value == 2.0
    outside = by[(("experiment", "arm"), (None, None))]
    assert (outside.impressions, outside.users) == (1, 0)  # the anonymous similar-items answer
    fallback = by[(("version", "experiment", "arm", "source"), ("v1", "e", "control", "fallback"))]
    assert (fallback.impressions, fallback.ctr.value) == (1, 1.0)
    assert by[(("version",), ("v1",))].impressions == 3


def test_a_mean_is_a_ratio_with_t_interval():
    values = np.array([0.0, 1.0, 3.0, 2.0, 7.0])
    found = ratio(values, np.ones(5))
    low, high = stats.t.interval(0.95, 4, loc=values.mean(), scale=stats.sem(values))
    assert (found.value, found.low, found.high) == pytest.approx((values.mean(), low, high))


def test_a_ratio_interval_counts_users_not_impressions():
    rng = np.random.default_rng(3)
    shown = rng.integers(1, 30, 400)  # heavy users dominate the impressions
    rate = rng.beta(1, 4, 400)  # each user's own click-through
    clicks = rng.binomial(shown, rate)
    found = ratio(clicks, shown)
    boot = [clicks[i].sum() / shown[i].sum() for i in rng.integers(0, 400, (2000, 400))]
    assert found.se == pytest.approx(np.std(boot), rel=0.1)  # the bootstrap over users agrees
    naive = np.sqrt(found.value * (1 - found.value) / shown.sum())  # impressions as independent
    assert found.se > 1.5 * naive


def test_a_warehouse_without_rec_id_opened_read_only_still_joins(tmp_path):
    import duckdb

    from pipeline.data import warehouse
    from pipeline.feedback.impressions import ensure_schema

    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as old:
        old.execute(
            "CREATE TABLE raw_events (user_id VARCHAR, item_id VARCHAR, event_type VARCHAR, ts TIMESTAMP, "
            "quantity DOUBLE, price DOUBLE, country VARCHAR, file_id INTEGER, source_row BIGINT)"
        )
        old.execute(
            "INSERT INTO raw_events VALUES ('u1', 'a', 'view', '2026-12-07 18:05', 1, NULL, 'GB', 1, 1)"
        )
        ensure_schema(old)
        old.execute(
            "INSERT INTO impressions VALUES ('r1', '2026-12-07 18:00', 'user', 'u1', NULL, 'v1', NULL, "
            "NULL, 'personal', ['a'], 1)"
        )
    with warehouse.connect(path, read_only=True) as con:
        assert per_unit(con, SINCE, 24)["clicks"].tolist() == [1]


def test_nothing_served_since_gives_no_groups(con, tmp_path):
    load(con, tmp_path, [record(1)], [event("u1", "a", "view", "18:05")])
    metrics, units = online_metrics(con, datetime(2026, 12, 8), 24)
    assert (metrics.groups, len(units)) == ([], 0)
    assert isinstance(units, pd.DataFrame)
