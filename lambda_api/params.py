"""Request parameters and their rules: ids, k, exclude, segment. Unknown query parameters are refused
(a typo such as ``?kk=5`` is a 422, not silently the default). Optional parameters are documented
without ``null``: a query string cannot send one."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

import contract

MAX_EXCLUDE = 100
# exclude: one id, or several separated by commas (an ALB event keeps one value per parameter name);
# each id is then held to the id rule (lambda_api.routes._excluded)
EXCLUDE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"

UserId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=contract.MAX_ID_LENGTH,
        pattern=contract.ID_PATTERN,
        description="the user's id as it appears in the event log, percent-encoded (a/b: a%2Fb)",
        examples=["12347"],
    ),
]
ItemId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=contract.MAX_ID_LENGTH,
        pattern=contract.ID_PATTERN,
        description="the item's id as it appears in the event log, percent-encoded (a/b: a%2Fb)",
        examples=["85123A"],
    ),
]


def _without_null(schema: dict) -> None:
    """Document an optional query parameter as its non-null type: a query string cannot send null."""
    branches = [branch for branch in schema.pop("anyOf", []) if branch.get("type") != "null"]
    if len(branches) == 1:
        schema.update(branches[0])


ExcludeValue = Annotated[str, StringConstraints(min_length=1, max_length=32768, pattern=EXCLUDE_PATTERN)]


class SimilarQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int | None = Field(
        None,
        ge=1,
        le=contract.MAX_K,
        description="how many items (default RECS_DEFAULT_K; at most what was published)",
        json_schema_extra=_without_null,
    )


class UserQuery(SimilarQuery):
    exclude: list[ExcludeValue] | None = Field(
        None,
        max_length=MAX_EXCLUDE,
        description=f"item ids to leave out, e.g. the cart: repeat the parameter or separate ids with commas "
        f"(at most {MAX_EXCLUDE})",
        examples=[["22423,85123A"]],
        json_schema_extra=_without_null,
    )
    segment: str | None = Field(
        None,
        min_length=1,
        max_length=contract.MAX_SEGMENT_LENGTH,
        pattern=contract.ID_PATTERN,
        description="for an unknown user: the popular list of this segment (e.g. a country), if published",
        examples=["France"],
        json_schema_extra=_without_null,
    )


UserParams = Annotated[UserQuery, Query()]
SimilarParams = Annotated[SimilarQuery, Query()]
