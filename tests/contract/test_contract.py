import json
import random
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

import contract


def test_row_round_trips_ids_in_rank_order_and_scores_to_4_significant_digits():
    ranked = contract.RankedItems(("85123A", "BANK CHARGES", 'quo"te'), (1.234567, 0.5, -0.000123456))
    item = contract.encode_row(contract.user_pk("12347"), "v1", ranked, expires_at=1700000000)
    decoded = contract.decode_row(item)
    assert decoded.item_ids == ranked.item_ids
    assert decoded.scores == (1.235, 0.5, -0.0001235)
    assert item["pk"] == {"S": "user#12347"} and item["sk"] == {"S": "v1"}
    assert item[contract.TTL_ATTRIBUTE] == {"N": "1700000000"}


@pytest.mark.parametrize("id_length", [5, 6, 8])
def test_a_50_item_user_row_of_realistic_ids_fits_one_write_unit(id_length):
    # the retail sample's stock codes are 5-6 characters ("85123A"); 8 is the documented bound
    rng = random.Random(id_length)
    ids = tuple("".join(rng.choices(string.digits + "AB", k=id_length)) for _ in range(50))
    scores = tuple(sorted((rng.uniform(0.01, 1.5) for _ in range(50)), reverse=True))
    item = contract.encode_row(
        contract.user_pk("1234567890"),
        "20261122T021500Z-3f9a1c",
        contract.RankedItems(ids, scores),
        expires_at=1_790_000_000,
    )
    assert contract.item_size(item) <= contract.WRITE_UNIT_BYTES


def test_item_size_counts_names_and_values_as_dynamodb_bills_them():
    assert contract.item_size({"pk": {"S": "user#1"}}) == 2 + 6
    assert contract.item_size({"id": {"S": "é"}}) == 2 + 2  # UTF-8 bytes
    assert contract.item_size({"n": {"N": "123"}}) == 1 + 3  # 2 digits per byte, rounded up, plus 1
    assert contract.item_size({"n": {"N": "-0.001200"}}) == 1 + 2  # zeros trimmed: "12"
    assert contract.item_size({"b": {"BOOL": True}}) == 2
    with pytest.raises(ValueError, match="cannot size attribute type 'L'"):
        contract.item_size({"l": {"L": []}})


def test_pointer_round_trips_with_and_without_previous():
    for pointer in (contract.Pointer("v2", 50, "v1"), contract.Pointer("v1", 20)):
        assert contract.decode_pointer(contract.encode_pointer(pointer, flipped_at=5)) == pointer


def test_scores_are_4_digit_numbers_without_the_leading_zero():
    item = contract.encode_row("popular#global", "v", contract.RankedItems(("a", "b"), (0.1, -0.05)), 1)
    assert item["scores"]["S"] == ".1,-.05" and item["items"]["S"] == "a,b"
    assert (
        contract.scores_text([10.5, 0.0, -0.0, 100.25, 1e-05]) == "10.5,0,-0,100.2,1e-05"
    )  # "10.5" keeps its 0


def test_scores_that_are_not_finite_are_refused():
    with pytest.raises(ValueError, match=r"scores must be finite numbers to be stored, got \[0.5,nan\]"):
        contract.scores_text([0.5, float("nan")])
    assert contract.scores_text([1234.5, 1e-05]) == "1234,1e-05"
    scores = contract.decode_row({"items": {"S": '["a"]'}, "scores": {"S": "[1234]"}}).scores  # layout 1
    assert scores == (1234.0,) and isinstance(scores[0], float)


def test_ids_that_would_break_the_join_are_refused():
    for bad in (("a", "b,c"), ("a", ""), ("",)):
        with pytest.raises(ValueError, match="an id is not empty and holds no comma"):
            contract.ids_text(bad)
    assert contract.ids_text(()) == "" and contract.decode_row(
        contract.encode_row("popular#global", "v", contract.RankedItems((), ()), 1)
    ) == contract.RankedItems((), ())


finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
ids = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=","), min_size=1, max_size=30
)


@given(st.lists(st.tuples(ids, finite), max_size=70))
def test_layout_2_reads_back_the_very_floats_layout_1_did(pairs):
    """The same decimal, written two ways, parses to the same float: answers do not change."""
    item_ids, scores = tuple(i for i, _ in pairs), tuple(s for _, s in pairs)
    decoded = contract.decode_row(
        contract.encode_row("user#u", "v", contract.RankedItems(item_ids, scores), 1)
    )
    layout_1 = json.loads("[" + ("%.4g," * len(scores) % scores)[:-1] + "]", parse_int=float)
    assert decoded.item_ids == item_ids
    assert decoded.scores == tuple(layout_1)
    assert all(type(s) is float for s in decoded.scores)


LAYOUT_1_ROW = {  # a row as the pipeline wrote it before layout 2, with its categories
    "pk": {"S": "user#12347"},
    "sk": {"S": "20261122T021500Z-3f9a1c"},
    "items": {"S": '["85123A","22423","84879"]'},
    "scores": {"S": "[0.9123,0.88,0.05]"},
    "expires_at": {"N": "1790000000"},
    "schema": {"N": "1"},
    "cats": {"S": '[["home/kitchen","garden"],[0,-1,1]]'},
    "new": {"S": "[2]"},
}


def test_a_layout_1_row_is_still_read():
    ranked = contract.decode_row(LAYOUT_1_ROW)
    assert ranked == contract.RankedItems(
        ("85123A", "22423", "84879"), (0.9123, 0.88, 0.05), ("home/kitchen", None, "garden"), (2,)
    )
    assert not contract.needs_category_table(LAYOUT_1_ROW)


def test_a_layout_2_row_with_categories_round_trips_through_its_version_table():
    ranked = contract.RankedItems(
        ("85123A", "22423", "84879"), (0.9123, 0.88, 0.05), ("home/kitchen", None, "garden"), (2,)
    )
    table = contract.category_table(["home/kitchen", "garden", None, "garden"])
    assert table.names == ("garden", "home/kitchen")
    row = contract.encode_row("user#12347", "v", ranked, 1, table)
    assert row["cats"]["S"] == "201" and row["schema"] == {"N": "2"}
    assert contract.needs_category_table(row)
    assert contract.decode_row(row, table) == ranked
    assert contract.decode_row(row) == contract.RankedItems(ranked.item_ids, ranked.scores, (), (2,))
    with pytest.raises(ValueError, match="need the version's category table"):
        contract.encode_row("user#12347", "v", ranked, 1)
    stored = contract.encode_category_table("v", table, 99)
    assert stored["pk"] == {"S": "meta#categories"} and contract.decode_category_table(stored) == table


@pytest.mark.parametrize("n", [0, 1, 63, 64, 4095, 4096])
def test_codes_widen_with_the_table_and_name_every_category(n):
    table = contract.CategoryTable(tuple(f"c{i:05d}/é" for i in range(n)))
    assert table.width == (1 if n < 64 else 2 if n < 4096 else 3)
    sample = [None, *table.names[:3], *table.names[-3:]]
    codes = table.codes(sample)
    assert len(codes) == table.width * len(sample) and codes.isascii()
    assert table.decode(codes, len(sample)) == tuple(sample)
    with pytest.raises(ValueError, match="do not match a category table"):
        table.decode(codes + "0", len(sample))


def test_a_row_of_a_newer_layout_is_refused_with_what_to_do():
    with pytest.raises(ValueError, match="has layout 3; this reader knows 1 to 2: deploy the API before"):
        contract.decode_row({**LAYOUT_1_ROW, "schema": {"N": "3"}})


def test_a_category_table_too_large_for_one_item_is_refused():
    table = contract.CategoryTable(tuple(f"{'x' * 100}{i}" for i in range(4000)))
    with pytest.raises(ValueError, match="4000 categories .* more than the 350000 bytes one item may hold"):
        contract.encode_category_table("v", table, 1)


ENTRY = contract.VersionEntry(
    version="20261122T021500Z-3f9a1c",
    status="published",
    rows=1_000,
    rows_done=1_000,
    k=50,
    expires_at=1_790_000_000,
    created_at=1_763_776_500.25,
    metrics={"model": {"ndcg@10": 0.25}},
    fingerprint="0123456789abcdef",
    check_keys=("popular#global", "user#12347"),
    published_at=1_763_776_560.5,
)


def test_a_registry_entry_round_trips_and_is_keyed_by_its_version():
    item = contract.encode_version(ENTRY)
    assert item["pk"] == {"S": "meta#version"} and item["sk"] == {"S": ENTRY.version}
    assert contract.decode_version(item) == ENTRY
    unpublished = contract.VersionEntry(ENTRY.version, "writing", 3, 0, 5, 9, 1.0)
    assert "published_at" not in contract.encode_version(unpublished)
    assert contract.decode_version(contract.encode_version(unpublished)) == unpublished


@given(
    status=st.sampled_from(["writing", "published", "retired"]),
    rows=st.integers(0, 10**9),
    metrics=st.dictionaries(st.text(max_size=20), st.dictionaries(st.text(max_size=20), st.floats(0, 1))),
    keys=st.lists(st.text(max_size=60), max_size=20),
    created=st.floats(0, 2e9),
)
def test_any_registry_entry_round_trips(status, rows, metrics, keys, created):
    entry = contract.VersionEntry(
        "v", status, rows, rows // 2, 10, 1_790_000_000, round(created, 6), metrics, "fp", tuple(keys)
    )
    assert contract.decode_version(contract.encode_version(entry)) == entry


def test_unknown_users_fall_back_to_their_segment_then_the_global_list():
    assert contract.fallback_segments(None) == ("global",)
    assert contract.fallback_segments("France") == ("France", "global")
    assert contract.fallback_segments("global") == ("global",)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("12347", None),
        ("user@example.com", None),
        ("_a b:c=d+e-f.g", None),
        ("", "is empty"),
        ("x" * 257, "has 257 characters, more than 256"),
        ("-leading-dash", None),
        ("a/b", None),
        ("José#1 ?%", None),
        ("u,1", "must be text without control characters or commas"),
        (" padded", "must be text without"),
        ("line\n", "must be text without"),
        ("nul\x00", "must be text without"),
    ],
)
def test_the_id_rule(value, problem):
    found = contract.id_problem(value)
    assert found == problem if problem is None else found.startswith(problem)


categories = st.text(st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=20)


@given(st.lists(categories, max_size=200, unique=True), st.data())
def test_any_categories_round_trip_through_their_codes(names, data):
    table = contract.category_table(names)
    row = data.draw(st.lists(st.sampled_from([None, *names]), max_size=70))
    codes = table.codes(row)
    assert len(codes) == table.width * len(row) and codes.isascii()
    assert table.decode(codes, len(row)) == tuple(row)
    stored = contract.encode_category_table("v", table, 1)
    assert contract.decode_category_table(stored) == table
