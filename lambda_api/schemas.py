"""Response bodies of the API (the stored rows are never returned as they are)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ScoredItem(BaseModel):
    item_id: str
    score: float


class Recommendations(BaseModel):
    user_id: str
    model_version: str = Field(description="the published model version that produced this answer")
    source: Literal["personal", "fallback"] = Field(
        description="personal: the user's own list; fallback: the popular list for an unknown user"
    )
    items: list[ScoredItem]
    rec_id: str = Field(description="unique id of this answer, to join with what the user did next")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "user_id": "12347",
                    "model_version": "20261122T021500Z-3f9a1c",
                    "source": "personal",
                    "items": [{"item_id": "85123A", "score": 0.91}, {"item_id": "22423", "score": 0.88}],
                    "rec_id": "3b1f0c1e8a9b4c2d9f0e1a2b3c4d5e6f",
                }
            ]
        }
    }


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class ErrorBody(BaseModel):
    detail: str
