"""The row codec (contract._rows) by behaviour: what goes in comes back, in order, with scores to 4
significant digits; the two ways of building ``items`` agree; every row names its layout version."""

from __future__ import annotations

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
def test_ids_text_is_the_comma_join_the_id_rule_makes_safe(item_ids):
    # the id rule forbids commas, so the join splits back into exactly the ids
    text = contract.ids_text(item_ids)
    assert text == ",".join(item_ids) and (text.split(",") if text else []) == item_ids


def test_an_empty_row_and_its_scores():
    assert (contract.ids_text([]), contract.scores_text([])) == ("", "")
    assert contract.decode_row(
        contract.encode_row("popular#global", "v", contract.RankedItems((), ()), 1)
    ) == (contract.RankedItems((), ()))


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_a_score_that_is_not_finite_is_refused_naming_the_row(bad):
    with pytest.raises(
        ValueError, match=r"scores must be finite numbers to be stored, got \[0\.25,-?(inf|nan)\]"
    ):
        contract.scores_text([0.25, bad])


def test_every_row_names_its_layout_version():
    ranked = contract.RankedItems(("a", "b"), (0.5, 0.25))
    for row in (
        contract.encode_row("item#a", "v", ranked, 1),
        contract.encode_text_row("item#a", "v", contract.ids_text(ranked.item_ids), ".5,.25", 1),
    ):
        assert int(row["schema"]["N"]) == contract.SCHEMA_VERSION
        assert contract.decode_row(row) == ranked


def test_a_row_with_categories_new_items_and_about_decodes_all_three():
    ranked = contract.RankedItems(
        ("a", "b", "c"),
        (0.5, 0.25, 0.125),
        categories=("home/kitchen", None, "toys"),
        new=(2,),
        about=("Mug, blue", "home"),
    )
    table = contract.category_table(["toys", "home/kitchen"])
    row = contract.encode_row("item#x", "v", ranked, 1, table)
    assert contract.decode_row(row, table) == ranked
