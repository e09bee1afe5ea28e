"""What /openapi.json says beyond the code: the tags, the headers of the answers, an example of every error.

Each error example is the detail a real request gets (``ErrorExample.request``, on a version of k=5
published in a table named ``recs``); tests/lambda_api/test_openapi.py sends each one and compares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambda_api.schemas import VERSION_EXAMPLE, ErrorBody

RECOMMENDATIONS = "recommendations"
OPERATIONS = "operations"
TAGS: list[dict[str, Any]] = [
    {"name": RECOMMENDATIONS, "description": "precomputed lists: a user's top-k, an item's similar items"},
    {"name": OPERATIONS, "description": "liveness, readiness and this container's cache"},
]

ANSWER_HEADERS: dict[str, Any] = {
    "X-Model-Version": {
        "description": "the published model version that produced the answer (as model_version in the body)",
        "schema": {"type": "string"},
        "example": VERSION_EXAMPLE,
    },
    "X-Cache": {
        "description": "hit: from this container's cache; miss: read from DynamoDB; "
        "stale: an older cached row served while DynamoDB fails (the answer is degraded)",
        "schema": {"type": "string", "enum": ["hit", "miss", "stale"]},
        "example": "hit",
    },
}
RETRY_AFTER: dict[str, Any] = {
    "Retry-After": {
        "description": "seconds to wait before asking again (RECS_RETRY_AFTER_SECONDS)",
        "schema": {"type": "integer", "minimum": 1},
        "example": 5,
    }
}


@dataclass(frozen=True)
class ErrorExample:
    """One documented error: the request that gets it (path and query) and its exact detail."""

    name: str
    summary: str
    request: str
    detail: str


USER = "/v1/users/12347/recommendations"
UNAUTHORIZED = [
    ErrorExample("missing_key", "no X-API-Key header", USER, "missing X-API-Key header"),
    ErrorExample("invalid_key", "a key that is not configured", USER, "invalid X-API-Key"),
]
INVALID = [
    ErrorExample(
        "k_too_large",
        "k above what the version holds",
        f"{USER}?k=50",
        f"k=50 exceeds the 5 items precomputed for model version {VERSION_EXAMPLE}",
    ),
    ErrorExample(
        "k_out_of_range",
        "k outside 1..200",
        f"{USER}?k=0",
        "k: Input should be greater than or equal to 1",
    ),
    ErrorExample(
        "id_rule",
        "an id that breaks the id rule",
        "/v1/users/a,b/recommendations",
        "user_id: must be text without control characters or commas, and without a space at either end",
    ),
    ErrorExample(
        "bad_exclude",
        "an exclude id that breaks the id rule",
        f"{USER}?exclude=85123A%09",
        "exclude: item id '85123A\\t' must be text without control characters or commas, "
        "and without a space at either end",
    ),
    ErrorExample(
        "unknown_parameter",
        "a parameter the route does not take",
        f"{USER}?kk=5",
        "kk: Extra inputs are not permitted",
    ),
]
UNAVAILABLE = [
    ErrorExample(
        "not_published",
        "no version published yet",
        USER,
        "no model version is published in table recs",
    ),
]


def error_response(description: str, examples: list[ErrorExample], headers: dict | None = None) -> dict:
    """An entry of a route's ``responses``: the ErrorBody schema, ``examples`` and any ``headers``."""
    documented = {e.name: {"summary": e.summary, "value": {"detail": e.detail}} for e in examples}
    response: dict[str, Any] = {
        "model": ErrorBody,
        "description": description,
        "content": {"application/json": {"examples": documented}},
    }
    if headers:
        response["headers"] = headers
    return response


def answer(description: str = "the answer, with the version and cache state in its headers") -> dict:
    """The 200 entry of a recommendation route's ``responses``: its headers documented."""
    return {"description": description, "headers": ANSWER_HEADERS}
