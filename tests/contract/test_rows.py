"""The row codec (contract._rows) by behaviour: what goes in comes back, in order, with scores to 4
significant digits; the two ways of building ``items`` agree; every row names its layout version."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import contract

# ids as the product accepts them: any text the id rule allows, quotes, '#', '/', non-ASCII included
ids = st.text(min_size=1, max_size=40).filter(lambda value: contract.id_problem(value) is None)
finite = st.floats(allow_nan=False, allow_infinity=False, width=32)


@given(st.lists(ids, max_size=60), st.data())
def test_any_row_round_trips_its_ids_in_order_and_its_scores_to_4_significant_digits(item_ids, data):
    scores = data.draw(st.lists(finite, min_size=len(item_ids), max_size=len(item_ids)))
    ranked = contract.RankedItems(tuple(item_ids), tuple(scores))
    decoded = contract.decode_row(contract.encode_row(contract.user_pk("u#1/é"), "v1", ranked, expires_at=7))
    assert decoded.item_ids == tuple(item_ids)
    assert decoded.scores == tuple(float(f"{s:.4g}") for s in scores)
    assert all(type(s) is float for s in decoded.scores)


@given(st.lists(ids, max_size=60))
def test_ids_json_is_the_writers_join_of_quoted_ids(item_ids):
    # pipeline.publish.writer builds ``items`` as this join; both must write the same row
    assert contract.ids_json(item_ids) == "[" + ",".join(json.dumps(i) for i in item_ids) + "]"
    assert json.loads(contract.ids_json(item_ids)) == item_ids


def test_an_empty_row_and_its_scores():
    assert (contract.ids_json([]), contract.scores_json([])) == ("[]", "[]")
    assert contract.decode_row(
        contract.encode_row("popular#global", "v", contract.RankedItems((), ()), 1)
    ) == (contract.RankedItems((), ()))


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_a_score_that_is_not_finite_is_refused_naming_the_row(bad):
    with pytest.raises(
        ValueError, match=r"scores must be finite numbers to be stored, got \[0\.25,-?(inf|nan)\]"
    ):
        contract.scores_json([0.25, bad])


def test_every_row_names_its_layout_version():
    ranked = contract.RankedItems(("a", "b"), (0.5, 0.25))
    for row in (
        contract.encode_row("item#a", "v", ranked, 1),
        contract.encode_json_row("item#a", "v", contract.ids_json(ranked.item_ids), "[0.5,0.25]", 1),
    ):
        assert int(row["schema"]["N"]) == contract.SCHEMA_VERSION
        assert contract.decode_row(row) == ranked


def test_a_row_with_categories_new_items_and_about_decodes_all_three():
    ranked = contract.RankedItems(("a", "b", "c"), (0.5, 0.25, 0.125))
    row = contract.encode_row("item#x", "v", ranked, 1)
    row[contract.CATEGORIES_ATTRIBUTE] = {"S": contract.encode_categories(["home/kitchen", None, "toys"])}
    row[contract.NEW_ATTRIBUTE] = {"S": contract.encode_new([2])}
    row[contract.ABOUT_ATTRIBUTE] = {"S": contract.encode_about("Mug, blue", "home")}
    assert contract.decode_row(row) == contract.RankedItems(
        ranked.item_ids,
        ranked.scores,
        categories=("home/kitchen", None, "toys"),
        new=(2,),
        about=("Mug, blue", "home"),
    )
