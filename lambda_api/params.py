"""Request parameters and their rules: ids, k, exclude, segment. Unknown query parameters are refused
(a typo such as ``?kk=5`` is a 422, not silently the default). Optional parameters are documented
without ``null``: a query string cannot send one."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

import contract

MAX_EXCLUDE = 100
# exclude: one id, or several separated by commas (an ALB event keeps one value per parameter name);
# each id is held to the id rule by lambda_api.routes._excluded, which names the id that breaks it


def _follows_the_id_rule(value: str) -> str:
    """The id rule's character part (``contract.id_problem``), with its own words rather than a regex."""
    problem = contract.id_problem(value, max_length=len(value))
    if problem:
        raise PydanticCustomError("id_rule", "{problem}", {"problem": problem})
    return value


IdRule = AfterValidator(_follows_the_id_rule)
ID_SCHEMA = {"pattern": contract.ID_PATTERN}  # documents the rule IdRule checks

UserId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=contract.MAX_ID_LENGTH,
        json_schema_extra=ID_SCHEMA,
        description="the user's id as it appears in the event log, percent-encoded (a/b: a%2Fb)",
        examples=["12347"],
    ),
    IdRule,
]
ItemId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=contract.MAX_ID_LENGTH,
        json_schema_extra=ID_SCHEMA,
        description="the item's id as it appears in the event log, percent-encoded (a/b: a%2Fb)",
        examples=["85123A"],
    ),
    IdRule,
]


def _without_null(schema: dict) -> None:
    """Document an optional query parameter as its non-null type: a query string cannot send null."""
    branches = [branch for branch in schema.pop("anyOf", []) if branch.get("type") != "null"]
    if len(branches) == 1:
        schema.update(branches[0])


def _segment_schema(schema: dict) -> None:
    _without_null(schema)
    schema.update(ID_SCHEMA)


ExcludeValue = Annotated[str, StringConstraints(min_length=1, max_length=32768)]


class SimilarQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int | None = Field(
        None,
        ge=1,
        le=contract.MAX_K,
        description="how many items (default RECS_DEFAULT_K; at most what was published)",
        examples=[10],
        json_schema_extra=_without_null,
    )

    category: (
        Annotated[str, StringConstraints(min_length=1, max_length=contract.MAX_ID_LENGTH), IdRule] | None
    ) = Field(
        None,
        description="only items of this category, or of a path below it (home: home/kitchen too)",
        examples=["home/kitchen"],
        json_schema_extra=_segment_schema,
    )

    include: Literal["metadata"] | None = Field(
        None,
        description="metadata: each item's name and category from the catalog (cached like the lists)",
        examples=["metadata"],
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
    segment: (
        Annotated[str, StringConstraints(min_length=1, max_length=contract.MAX_SEGMENT_LENGTH), IdRule] | None
    ) = Field(
        None,
        description="for an unknown user: the popular list of this segment (e.g. a country), if published",
        examples=["France"],
        json_schema_extra=_segment_schema,
    )


UserParams = Annotated[UserQuery, Query()]
SimilarParams = Annotated[SimilarQuery, Query()]
