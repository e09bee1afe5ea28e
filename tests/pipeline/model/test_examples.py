"""Example lists of the run report: a few users per slice, their history and the model's suggestions."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipeline.model import evaluate, examples, html_report, lookup, train
from pipeline.settings import ALSParams
from tests.model_data import synthetic_interactions


@pytest.fixture(scope="module")
def data():
    return synthetic_interactions()


@pytest.fixture(scope="module")
def model(data):
    return train.fit(data, ALSParams(factors=8, regularization=1.0, iterations=4))


@pytest.fixture(scope="module")
def segments(data):
    return pd.Series(np.where(np.arange(data.shape[0]) % 3 == 0, "France", "Germany"), name="country")


def test_each_slice_gets_its_own_users(data, segments):
    picked = examples.pick_users(data, segments, per_slice=2)
    activity = np.diff(data.user_items.indptr)
    row_of = {u: i for i, u in enumerate(data.user_ids.tolist())}
    slices = evaluate.user_slices(data.user_items, np.arange(data.shape[0]), segments)
    assert [name for name, _ in picked[::2]] == list(slices)  # two per slice, in the slices' order
    for name, user in picked:
        assert slices[name][row_of[user]], (name, user)
        if name.startswith("cold"):
            assert activity[row_of[user]] <= 3
    assert picked == examples.pick_users(data, segments, per_slice=2)  # same data, same users


def test_a_slice_smaller_than_asked_gives_what_it_has(data):
    one = pd.Series(["Iceland"] + ["Germany"] * (data.shape[0] - 1), name="country")
    picked = examples.pick_users(data, one, per_slice=3)
    assert [user for name, user in picked if name == "country=Iceland"] == [str(data.user_ids[0])]


def test_suggestions_leave_out_what_the_user_touched(tmp_path, data, model, segments):
    db = tmp_path / "warehouse.duckdb"
    user = examples.pick_users(data, segments)[0][1]
    row = list(data.user_ids).index(user)
    touched = [str(data.item_ids[j]) for j in data.user_items[row].indices]
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE raw_events (user_id VARCHAR, item_id VARCHAR, ts TIMESTAMP)")
        for n, item in enumerate(touched):
            con.execute(
                "INSERT INTO raw_events VALUES (?, ?, TIMESTAMP '2026-01-01' + ?::INTERVAL)",
                [user, item, f"{n} minutes"],
            )
    found = examples.example_lists(model, data, segments, db, k=5)
    first = next(e.lists for e in found if e.lists.user_id == user)
    assert first.history == touched[::-1][: lookup.HISTORY_ITEMS]  # newest first
    assert len(first.items) == 5 and not {i for i, _ in first.items} & set(touched)


def test_the_section_names_items_and_shows_hostile_text_literally(data, model, segments):
    found = examples.example_lists(model, data, segments, None, per_slice=1, k=3)
    first_item = found[0].lists.items[0][0]
    names = {first_item: "<script>alert(1)</script> RED | MUG *big*"}
    found[0] = examples.Example("country=<b>x</b>|y", found[0].lists)
    text = examples.markdown(found, names)
    assert text.startswith("## Example lists") and text.count("\n| ") == len(found) + 1
    page = html_report.to_html(text, "t")
    assert "<script>" not in page and "<b>x</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; RED | MUG *big*" in page
    assert f"({first_item})" in page and "&lt;b&gt;x&lt;/b&gt;|y" in page
    assert page.count("<tr>") == len(found) + 1  # the | of a name did not split a cell


def test_no_users_is_said(data):
    assert "_(no users to show)_" in examples.markdown([], {})
