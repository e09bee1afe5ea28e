"""The HTTP routes: fetch, check, act, return."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from itertools import islice
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, HTTPException, Response
from starlette.convertors import Convertor, register_url_convertor

import contract
from lambda_api import api_docs, impressions
from lambda_api.deps import API_KEY_HEADER, Rt, Runtime, Store, require_api_key
from lambda_api.params import MAX_EXCLUDE, ItemId, SimilarParams, UserId, UserParams
from lambda_api.rules import Filters
from lambda_api.schemas import (
    CacheStats,
    Health,
    RankedAnswer,
    Ready,
    ScoredItem,
    SimilarItems,
    UserRecommendations,
)
from lambda_api.store import Lookup

if TYPE_CHECKING:
    from lambda_api.settings import ApiSettings

# each with an example of the error (a real request's detail) and the headers it carries: lambda_api.api_docs
ERRORS: dict[int | str, dict[str, Any]] = {
    401: api_docs.error_response(
        "missing or wrong X-API-Key (when keys are configured)", api_docs.UNAUTHORIZED
    ),
    422: api_docs.error_response("a parameter breaks its rule", api_docs.INVALID),
    503: api_docs.error_response(
        "nothing published, or DynamoDB unreadable and nothing cached",
        api_docs.UNAVAILABLE,
        api_docs.RETRY_AFTER,
    ),
}


class IdConvertor(Convertor[str]):
    """An id in a path: any text, "/" (sent as %2F, decoded before routing) and control characters
    included, so that the id rule answers (422 naming it) instead of the router (404)."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id", IdConvertor())

router = APIRouter()
keyed = APIRouter(dependencies=[Depends(require_api_key)], responses=ERRORS)


@router.get("/health", response_model=Health, tags=[api_docs.OPERATIONS])
async def health() -> Health:
    """The process is up."""
    return Health()


@router.get("/ready", response_model=Ready, responses={503: ERRORS[503]}, tags=[api_docs.OPERATIONS])
async def ready(runtime: Rt) -> Ready:
    """The table is reachable and a version is published: the version this container serves."""
    pointer = await runtime.blocking(runtime.store.probe)
    return Ready(model_version=pointer.version, k=pointer.k)


@keyed.get("/stats", response_model=CacheStats, tags=[api_docs.OPERATIONS])
async def stats(store: Store) -> CacheStats:
    """Cache hits, misses and the served version of this container."""
    return CacheStats(**store.snapshot())


@keyed.get(
    "/v1/users/{user_id:id}/recommendations",
    response_model=UserRecommendations,
    responses={200: api_docs.answer()},
    tags=[api_docs.RECOMMENDATIONS],
)
async def user_recommendations(user_id: UserId, query: UserParams, runtime: Rt) -> Response:
    """Top-k items for a user, or the popular fallback (of the segment, if given) for an unknown user."""
    skip = await _filters(runtime, _excluded(query.exclude), query.category)
    found = await _find(runtime, runtime.store.for_user, user_id, query.segment)
    items = _top(found, query.k, runtime.settings.default_k, skip)
    wanted = query.k or min(runtime.settings.default_k, found.k)
    filled = 0
    if found.source == "personal" and len(items) < wanted:
        popular = await _find(runtime, runtime.store.popular, query.segment, user_id)
        items, filled = _backfill(items, popular, wanted, skip)
        found = replace(found, degraded=found.degraded or popular.degraded)
    items = await _described(runtime, items, query.include)
    body = UserRecommendations(
        user_id=user_id, items=items, backfilled=filled, filled=len(items) >= wanted, **_answer(found)
    )
    impressions.record(runtime.impressions, body)
    return _respond(body, found, runtime.settings, bool(await runtime.api_keys()))


@keyed.get(
    "/v1/items/{item_id:id}/similar",
    response_model=SimilarItems,
    responses={200: api_docs.answer()},
    tags=[api_docs.RECOMMENDATIONS],
)
async def similar_items(item_id: ItemId, query: SimilarParams, runtime: Rt) -> Response:
    """Items similar to an item, or the popular fallback for an item the model does not know."""
    skip = await _filters(runtime, {item_id}, query.category)
    found = await _find(runtime, runtime.store.for_item, item_id)
    _check_similar_k(found, query.k)
    items = _top(found, query.k, runtime.settings.default_k, skip)
    wanted = query.k or min(runtime.settings.default_k, found.k)
    items = await _described(runtime, items, query.include)
    body = SimilarItems(item_id=item_id, items=items, filled=len(items) >= wanted, **_answer(found))
    impressions.record(runtime.impressions, body)
    return _respond(body, found, runtime.settings, bool(await runtime.api_keys()))


async def _find(runtime: Runtime, read: Callable[..., Lookup | None], *args) -> Lookup:
    """From the cache without leaving the event loop when possible; else DynamoDB on a reader thread."""
    return read(*args, cached_only=True) or await runtime.blocking(read, *args)


def _excluded(exclude: list[str] | None) -> set[str]:
    """The item ids of the exclude parameters (repeated, or comma-separated); 422 past MAX_EXCLUDE
    or for an id the id rule refuses (no stored id breaks it, so none can be meant)."""
    ids = {i.strip(" ") for value in exclude or () for i in value.split(",")} - {""}
    if len(ids) > MAX_EXCLUDE:
        raise HTTPException(422, f"exclude: at most {MAX_EXCLUDE} item ids, got {len(ids)}")
    for item_id in sorted(ids):
        problem = contract.id_problem(item_id)
        if problem:
            raise HTTPException(422, f"exclude: item id {item_id[:40]!r} {problem}")
    return ids


async def _filters(runtime: Runtime, skip: set[str], category: str | None) -> Filters:
    """The request's skips, the unavailable items (re-read on a reader thread when due) and its category."""
    availability = runtime.store.availability
    unavailable = (
        await runtime.blocking(availability.unavailable) if availability.due() else availability.cached()
    )
    return Filters(skip, unavailable, category)


async def _described(runtime: Runtime, items: list[ScoredItem], include: str | None) -> list[ScoredItem]:
    """With include=metadata, each item's name and category from its own (cached) row."""
    if include != "metadata" or not items:
        return items
    ids = [i.item_id for i in items]
    about = runtime.store.about(ids, cached_only=True)
    if about is None:
        about = await runtime.blocking(runtime.store.about, ids)
    return [
        i.model_copy(update=dict(zip(("name", "category"), about[i.item_id], strict=True)))
        if i.item_id in about
        else i
        for i in items
    ]


def _top(found: Lookup, k: int | None, default_k: int, skip: Filters) -> list[ScoredItem]:
    """The first k stored items not excluded; 422 when a k asked for exceeds what the version holds."""
    if k is None:
        k = min(default_k, found.k)
    elif k > found.k:
        raise HTTPException(
            422, f"k={k} exceeds the {found.k} items precomputed for model version {found.version}"
        )
    kept = islice(skip.kept(found.ranked), k)
    return [ScoredItem(item_id=i, score=s, reason="new" if new else None) for i, s, new in kept]


def _backfill(
    items: list[ScoredItem], popular: Lookup, k: int, skip: Filters
) -> tuple[list[ScoredItem], int]:
    """``items`` topped up to k from the popular list (nothing twice, nothing excluded or unavailable,
    the same category), and how many were added: a known user is never answered an empty list while
    popular items remain."""
    have = {i.item_id for i in items}
    extra = [ScoredItem(item_id=i, score=s) for i, s, _ in skip.kept(popular.ranked) if i not in have][
        : k - len(items)
    ]
    return items + extra, len(extra)


def _check_similar_k(found: Lookup, k: int | None) -> None:
    """422 when k exceeds the similar items a version holds per item (its similar_k, often below its k).

    Every similar-items row of a version holds the same number of items, so a row's length is the limit.
    """
    stored = len(found.ranked.item_ids)
    if found.source == "personal" and k is not None and k > stored:
        raise HTTPException(
            422, f"k={k} exceeds the {stored} similar items precomputed for model version {found.version}"
        )


def _answer(found: Lookup) -> dict:
    return {
        "model_version": found.version,
        "source": found.source,
        "segment": found.segment,
        "degraded": found.degraded,
        "rec_id": uuid.uuid4().hex,
        "experiment": found.experiment,
        "arm": found.arm,
    }


def _respond(body: RankedAnswer, found: Lookup, settings: ApiSettings, keyed: bool = False) -> Response:
    """The answer serialized once (FastAPI would validate the model a second time), with its headers."""
    headers = {
        "Cache-Control": "no-store" if found.degraded else cache_control(settings.cache_control, keyed),
        "X-Model-Version": found.version,
        "X-Cache": found.cache,
    }
    if keyed:  # a shared cache must never answer one key's request with another's answer
        headers["Vary"] = API_KEY_HEADER
    return Response(body.model_dump_json(), media_type="application/json", headers=headers)


def cache_control(configured: str, keyed: bool) -> str:
    """``configured``, but ``private`` instead of ``public`` when answers are behind API keys."""
    if not keyed:
        return configured
    directives = [d.strip() for d in configured.split(",") if d.strip()]
    kept = [d for d in directives if d.lower() not in ("public", "private")]
    return ", ".join(["private", *kept])
