"""Shared helpers of the publish tests: small model versions with realistic ids, and table reads."""

from __future__ import annotations

import contextlib

import numpy as np
from fastapi.testclient import TestClient

import contract
from pipeline.precompute.recommend import Precomputed, TopK
from pipeline.publish import writer


def realistic_item_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    """Stock codes like the retail sample's: five digits, sometimes a letter ("85123A")."""
    digits = rng.integers(10_000, 99_999, size=n)
    suffix = rng.choice(["", "", "A", "B", "C"], size=n)
    ids = [f"{d}{s}" for d, s in zip(digits.tolist(), suffix.tolist(), strict=True)]
    return np.array(list(dict.fromkeys(ids + [f"X{i}" for i in range(n)]))[:n], dtype=object)


def make_precomputed(users: int = 40, items: int = 30, k: int = 10, seed: int = 0, segments=("France",)):
    """A version's precomputed lists: random but fixed by ``seed`` (a different seed: other answers)."""
    rng = np.random.default_rng(seed)
    numbers = rng.choice(90_000, size=users, replace=False) + 10_000
    user_ids = np.array([str(u) for u in numbers], dtype=object)
    item_ids = realistic_item_ids(items, rng)

    def top(n_rows: int, width: int) -> TopK:
        ids = np.stack([rng.permutation(items)[:width] for _ in range(n_rows)]).astype(np.int32)
        scores = np.sort(rng.uniform(0, 2, size=(n_rows, width)).astype(np.float32), axis=1)[:, ::-1]
        return TopK(ids, np.ascontiguousarray(scores))

    popular = {"global": top(1, k), **{s: top(1, k) for s in segments}}
    return Precomputed(user_ids, item_ids, top(users, k), top(items, min(k, items - 1)), popular, k)


def run_publish(dynamodb, table, version, pre, **kwargs):
    """``writer.publish`` of a small version with a 3-day TTL, 2 workers and short backoffs."""
    kwargs = {"workers": 2, "base_delay": 0.002, **kwargs}
    return writer.publish(dynamodb, table, version, pre, {"model": {"ndcg": 0.1}}, ttl_days=3, **kwargs)


def version_rows_in_table(client, table: str, version: str) -> list[dict]:
    """Every recommendation row stored under ``version`` (a full scan: tests only)."""
    items, start = [], None
    while True:
        page = client.scan(TableName=table, **({"ExclusiveStartKey": start} if start else {}))
        items += [i for i in page["Items"] if i["sk"]["S"] == version and i["pk"]["S"][:5] != "meta#"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def expected_user_list(pre: Precomputed, user_index: int) -> list[str]:
    idx, _ = pre.users.row(user_index)
    return pre.item_ids[idx].tolist()


@contextlib.contextmanager
def api_client(monkeypatch, table: str, endpoint_url: str, pointer_refresh_seconds: float = 0.05):
    """The real API app (FastAPI TestClient) reading ``table`` on the local moto server."""
    from lambda_api import deps, settings

    monkeypatch.setenv("RECS_TABLE_NAME", table)
    monkeypatch.setenv("RECS_AWS_ENDPOINT_URL", endpoint_url)
    monkeypatch.setenv("RECS_POINTER_REFRESH_SECONDS", str(pointer_refresh_seconds))
    cached_functions = (settings.get_settings, getattr(deps, "get_store", None))
    caches = [f for f in cached_functions if hasattr(f, "cache_clear")]
    for cached in caches:
        cached.cache_clear()
    from lambda_api.app import create_app

    try:
        with TestClient(create_app()) as client:
            yield client
    finally:
        for cached in caches:
            cached.cache_clear()


def answer(api: TestClient, user_id: str, k: int = 10) -> dict:
    response = api.get(f"/v1/users/{user_id}/recommendations", params={"k": k})
    assert response.status_code == 200, response.text
    return response.json()


def pointer_version(client, table: str) -> str | None:
    item = client.get_item(TableName=table, Key=contract.POINTER_KEY, ConsistentRead=True).get("Item")
    return item["version"]["S"] if item else None
