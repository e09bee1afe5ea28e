"""Benchmark stage of benchmarks/api.py: the hit path with the serve-time rules next to today's hit path.

One table of users whose rows hold K + candidates items with their categories; 1,000 items marked
unavailable (a tenth of them in every row); the same warm Mangum handler answers, interleaved,
``?k=10`` (today's hit path, the baseline) and ``?k=10&category=home`` under that availability.
Then a cache miss's row decode, layout 2 (``contract._rows``) next to layout 1.
"""

from __future__ import annotations

import json
import time
from functools import partial

import contract
from infra.local.aws import LocalAWS

ROW_ITEMS = 60  # k = 50 and 10 candidates: the pipeline's defaults
UNAVAILABLE = 1000
CATEGORIES = ("home/kitchen", "home/decor", "garden", "jewellery", "stationery", "bags")


def _publish(client, table: str, users: int, user_id) -> None:
    client.create_table(TableName=table, **contract.table_keys(), BillingMode="PAY_PER_REQUEST")
    expires = int(time.time()) + 86400
    ids = tuple(f"{20_000 + i}A" for i in range(ROW_ITEMS))
    categories = tuple(CATEGORIES[i % len(CATEGORIES)] for i in range(ROW_ITEMS))
    ranked = contract.RankedItems(ids, tuple(1.0 - i / ROW_ITEMS for i in range(ROW_ITEMS)), categories)
    names = contract.category_table(categories)
    client.put_item(TableName=table, Item=contract.encode_category_table("v1", names, expires))
    pks = [contract.user_pk(user_id(n)) for n in range(users)] + [contract.popular_pk()]
    for start in range(0, len(pks), 25):
        rows = [contract.encode_row(pk, "v1", ranked, expires, names) for pk in pks[start : start + 25]]
        client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": r}} for r in rows]})
    down = contract.Availability(
        frozenset(
            [f"{20_000 + i}A" for i in range(0, ROW_ITEMS, 10)]
            + [f"gone-{n}" for n in range(UNAVAILABLE - 6)]
        ),
        "bench",
        int(time.time()),
    )
    for item in reversed(contract.encode_availability(down)):
        client.put_item(TableName=table, Item=item)
    client.put_item(
        TableName=table, Item=contract.encode_pointer(contract.Pointer("v1", 50), int(time.time()))
    )


def rules_stage(aws: LocalAWS, users: int, invocations: int) -> list[dict]:
    """Hit p50/p99 with 1,000 unavailable items and a category filter, next to the plain hit path."""
    import uuid

    import boto3
    from mangum import Mangum

    from benchmarks import api
    from lambda_api.app import create_app
    from lambda_api.settings import ApiSettings

    table = f"recs-bench-rules-{uuid.uuid4().hex[:8]}"
    client = boto3.client("dynamodb", endpoint_url=aws.endpoint_url, region_name=aws.region)
    _publish(client, table, min(users, 200), api._user_id)
    settings = ApiSettings(
        table_name=table, aws_endpoint_url=aws.endpoint_url, aws_region=aws.region, **api.PATIENT_DYNAMODB
    )
    handler = Mangum(create_app(settings), lifespan="off")
    hot = range(min(50, users))
    plain = [api.v2_event(f"/v1/users/{api._user_id(n)}/recommendations", "k=10") for n in hot]
    ruled = [api.v2_event(f"/v1/users/{api._user_id(n)}/recommendations", "k=10&category=home") for n in hot]
    for event in plain + ruled:  # warm: the pointer, the availability, the rows
        assert handler(event, api.NO_CONTEXT)["statusCode"] == 200
    ours, base = [], []
    for i in range(invocations):  # interleaved, so both see the same load
        ours.append(api._timed(partial(handler, ruled[i % len(ruled)], api.NO_CONTEXT)))
        base.append(api._timed(partial(handler, plain[i % len(plain)], api.NO_CONTEXT)))
    return [
        api._record(
            "api handler hit: 1,000 unavailable + category vs plain hit", ours, base, unavailable=UNAVAILABLE
        ),
        decode_stage(invocations),
    ]


def layout_1_row(ranked: contract.RankedItems) -> dict:
    """``ranked`` as layout 1 wrote it: JSON arrays, and the row's category paths with indexes."""
    names = list(dict.fromkeys(c for c in ranked.categories if c is not None))
    positions = [names.index(c) if c is not None else -1 for c in ranked.categories]
    return {
        "pk": {"S": "user#12347"},
        "sk": {"S": "v1"},
        "items": {"S": json.dumps(ranked.item_ids, separators=(",", ":"))},
        "scores": {"S": "[" + ("%.4g," * len(ranked.scores) % ranked.scores)[:-1] + "]"},
        "schema": {"N": "1"},
        "cats": {"S": json.dumps([names, positions], separators=(",", ":"))},
    }


def decode_stage(invocations: int) -> dict:
    """A cache miss's decode of one 60-item row with categories: layout 2 (with its version's
    category table, as the API holds it) next to layout 1, the baseline, interleaved."""
    from benchmarks import api  # it imports this module

    ids = tuple(f"{20_000 + i}A" for i in range(ROW_ITEMS))
    categories = tuple(CATEGORIES[i % len(CATEGORIES)] for i in range(ROW_ITEMS))
    ranked = contract.RankedItems(ids, tuple(0.9 - i / 100 for i in range(ROW_ITEMS)), categories)
    table = contract.category_table(categories)
    new, old = contract.encode_row("user#12347", "v1", ranked, 1, table), layout_1_row(ranked)
    assert contract.decode_row(new, table) == contract.decode_row(old)
    ours, base = [], []
    for _ in range(invocations):
        ours.append(api._timed(partial(contract.decode_row, new, table)))
        base.append(api._timed(partial(contract.decode_row, old)))
    return api._record(
        "row decode (cache miss): layout 2 vs layout 1, 60 items with categories",
        ours,
        base,
        bytes=contract.item_size(new),
        baseline_bytes=contract.item_size(old),
    )
