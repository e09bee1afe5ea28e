"""The id rule: which user, item and segment ids the product can store, serve and exclude."""

from __future__ import annotations

import re

MAX_ID_LENGTH = 128
MAX_SEGMENT_LENGTH = 64
# ASCII on purpose: JSON Schema's \w is ASCII-only while pydantic's (Rust) is Unicode, so spell it out
ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_ .:@+=-]*$"  # a letter, digit or _, then those, space and . : @ + = -
ID_CHARACTERS = "ASCII letters, digits and _ . : @ + = - and space, starting with a letter, digit or _"
ID_RULE = f"{ID_CHARACTERS}, at most {MAX_ID_LENGTH} characters"
_ID = re.compile(ID_PATTERN)


def id_problem(value: str, max_length: int = MAX_ID_LENGTH) -> str | None:
    """Why ``value`` is not a usable id, or None when it is one."""
    if not value:
        return "is empty"
    if len(value) > max_length:
        return f"has {len(value)} characters, more than {max_length}"
    if not _ID.match(value):
        return f"must be {ID_CHARACTERS}"
    return None
