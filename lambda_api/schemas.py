"""Response bodies of the API: one family per resource (the stored rows are never returned as they are)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

VERSION_EXAMPLE = "20261122T021500Z-3f9a1c"


class ScoredItem(BaseModel):
    item_id: str
    score: float
    reason: Literal["new"] | None = Field(
        None,
        exclude_if=lambda reason: reason is None,
        description='"new": a new item offered to explore (its score is that of the slot it takes); '
        "absent otherwise",
    )
    name: str | None = Field(None, exclude_if=lambda v: v is None, description="with include=metadata")
    category: str | None = Field(None, exclude_if=lambda v: v is None, description="with include=metadata")


class RankedAnswer(BaseModel):
    """What every recommendation answer carries."""

    model_version: str = Field(description="the published model version that produced this answer")
    source: Literal["personal", "fallback"] = Field(
        description="personal: the stored list for this user or item; fallback: a popular list"
    )
    segment: str | None = Field(
        None, description='the popular list a fallback came from: a segment such as "France", or "global"'
    )
    degraded: bool = Field(
        False, description="true when DynamoDB could not be read and the answer comes from an older cache"
    )
    items: list[ScoredItem]
    rec_id: str = Field(description="unique id of this answer, to join with what the user did next")
    experiment: str | None = Field(
        None, description="the running experiment this user is bucketed in (null when none runs)"
    )
    arm: Literal["control", "treatment"] | None = Field(
        None, description="the user's arm of that experiment, whose version answered (null when none)"
    )
    filled: bool = Field(
        True,
        description="false when fewer than k items are left once unavailable items, exclude and category "
        "are applied",
    )


class UserRecommendations(RankedAnswer):
    user_id: str
    backfilled: int = Field(
        0,
        description="how many items, at the end, come from the popular list because the user's own list "
        "ran short of k (the user has seen almost everything, or exclude took the rest)",
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "user_id": "12347",
                    "model_version": VERSION_EXAMPLE,
                    "source": "personal",
                    "segment": None,
                    "degraded": False,
                    "items": [{"item_id": "85123A", "score": 0.91}, {"item_id": "22423", "score": 0.88}],
                    "rec_id": "3b1f0c1e8a9b4c2d9f0e1a2b3c4d5e6f",
                }
            ]
        }
    }


class SimilarItems(RankedAnswer):
    item_id: str

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "item_id": "85123A",
                    "model_version": VERSION_EXAMPLE,
                    "source": "personal",
                    "segment": None,
                    "degraded": False,
                    "items": [{"item_id": "21733", "score": 0.73}],
                    "rec_id": "9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a",
                }
            ]
        }
    }


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    model_version: str = Field(description="the version this container serves")
    k: int = Field(description="how many items each row of that version holds")


class CacheStats(BaseModel):
    model_version: str | None
    pointer_age_seconds: float | None = Field(description="seconds since the version pointer was read")
    dynamodb_backoff: bool = Field(description="true while answers come from the cache alone after a failure")
    cache_entries: int
    cache_max_entries: int
    hits: int = Field(description="answers served from fresh cache entries")
    misses: int = Field(description="answers that read DynamoDB")
    stale: int = Field(description="degraded answers served from old entries while DynamoDB failed")
    dynamodb_errors: int
    unavailable: int = Field(description="requests answered 503: DynamoDB failed and nothing was cached")


class ErrorBody(BaseModel):
    detail: str
