"""The HTTP routes: fetch, check, act, return."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from lambda_api import contract
from lambda_api.deps import Settings, Store
from lambda_api.schemas import ErrorBody, Health, Recommendations, ScoredItem

router = APIRouter()

UserId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="the user's id as it appears in the event log",
        examples=["12347"],
    ),
]


@router.get("/health", response_model=Health)
def health() -> Health:
    """The process is up."""
    return Health()


@router.get(
    "/v1/users/{user_id}/recommendations",
    response_model=Recommendations,
    responses={422: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
def user_recommendations(
    user_id: UserId,
    store: Store,
    settings: Settings,
    k: Annotated[int | None, Query(ge=1, le=contract.MAX_K, description="how many items")] = None,
) -> Recommendations:
    """Top-k items for a user, or the popular fallback for a user the model does not know."""
    k = k or settings.default_k
    pointer = store.pointer()
    if k > pointer.k:
        raise HTTPException(
            422, f"k={k} exceeds the {pointer.k} items precomputed for model version {pointer.version}"
        )
    found = store.for_user(user_id)
    items = [
        ScoredItem(item_id=i, score=s)
        for i, s in zip(found.ranked.item_ids[:k], found.ranked.scores[:k], strict=True)
    ]
    return Recommendations(
        user_id=user_id,
        model_version=found.version,
        source=found.source,
        items=items,
        rec_id=uuid.uuid4().hex,
    )
