import json
import random
import string

from lambda_api import contract


def realistic_ranked(k: int, seed: int = 0) -> contract.RankedItems:
    rng = random.Random(seed)
    ids = tuple(
        "".join(rng.choices(string.digits, k=5)) + rng.choice(["", "A", "B"]) for _ in range(k)
    )
    scores = tuple(sorted((rng.uniform(0, 3) for _ in range(k)), reverse=True))
    return contract.RankedItems(ids, scores)


def test_row_round_trips_ids_in_rank_order_and_scores_to_4_significant_digits():
    ranked = contract.RankedItems(("85123A", "BANK CHARGES", 'quo"te'), (1.234567, 0.5, -0.000123456))
    item = contract.encode_row(contract.user_pk("12347"), "v1", ranked, expires_at=1700000000)
    decoded = contract.decode_row(item)
    assert decoded.item_ids == ranked.item_ids
    assert decoded.scores == (1.235, 0.5, -0.0001235)
    assert item["pk"] == {"S": "user#12347"} and item["sk"] == {"S": "v1"}
    assert item[contract.TTL_ATTRIBUTE] == {"N": "1700000000"}


def test_a_50_item_row_of_realistic_ids_fits_one_write_unit():
    item = contract.encode_row(contract.user_pk("1234567"), "20261122T021500Z-3f9a1c", realistic_ranked(50), 1)
    # DynamoDB item size: attribute names plus values (numbers counted as their digits, roughly)
    size = sum(len(name) + len(next(iter(v.values()))) for name, v in item.items())
    assert size <= 1024, size


def test_pointer_round_trips_with_and_without_previous():
    for pointer in (contract.Pointer("v2", 50, "v1"), contract.Pointer("v1", 20)):
        assert contract.decode_pointer(contract.encode_pointer(pointer, flipped_at=5)) == pointer


def test_scores_are_plain_json_numbers():
    item = contract.encode_row("popular#global", "v", contract.RankedItems(("a",), (0.1,)), 1)
    assert json.loads(item["scores"]["S"]) == [0.1]
