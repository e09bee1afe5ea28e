"""A small published version of known content, written with the item contract's encoders."""

from __future__ import annotations

import time

import contract

VERSION = "20261122T021500Z-aaaaaa"
K = 5
USERS = {
    "12347": (("85123A", "22423", "21733", "84879", "47566"), (0.91, 0.88, 0.5, 0.42, 0.3)),
    "user@example.com": (("22423", "84879"), (0.7, 0.6)),
}
SIMILAR = {"85123A": (("21733", "22423", "47566"), (0.73, 0.6, 0.5))}
POPULAR = {
    "global": (("85123A", "22423", "84879", "47566", "21733"), (0.2, 0.15, 0.1, 0.05, 0.01)),
    "France": (("POST", "22326", "85123A"), (0.4, 0.3, 0.2)),
}
API_KEY = "k" * 24


def create_table(client, table: str) -> None:
    """A table with the contract's key schema (on-demand billing)."""
    client.create_table(
        TableName=table,
        **contract.table_keys(),
        BillingMode="PAY_PER_REQUEST",
    )


def version_rows(version: str, users=USERS, similar=SIMILAR, popular=POPULAR) -> list[dict]:
    expires = int(time.time()) + 86400
    keyed = [(contract.user_pk(u), p) for u, p in users.items()]
    keyed += [(contract.item_pk(i), p) for i, p in similar.items()]
    keyed += [(contract.popular_pk(s), p) for s, p in popular.items()]
    return [contract.encode_row(pk, version, contract.RankedItems(*pair), expires) for pk, pair in keyed]


def put_version(client, table: str, version: str = VERSION, k: int = K, **lists) -> None:
    """Write a version's rows, then point readers at it."""
    for row in version_rows(version, **lists):
        client.put_item(TableName=table, Item=row)
    pointer = contract.Pointer(version=version, k=k)
    client.put_item(TableName=table, Item=contract.encode_pointer(pointer, int(time.time())))
