"""The id rule: which user, item and segment ids the product can store, serve and exclude.

One rule, applied where ids enter (ingest quarantines a row whose id breaks it, with the reason)
and where they are asked for (the API answers 422), so that every id that is stored can be
served and excluded. Any Unicode text is an id except:

- control characters (U+0000-U+001F, U+007F-U+009F): invisible, and unsafe in logs and headers;
- the comma: it separates the ids of one ``exclude`` value;
- a space at either end: ``exclude=a, b`` trims the spaces around each id;
- more than ``MAX_ID_LENGTH`` characters (256: at most 1 KB in UTF-8, so that ``user#<id>``
  stays far inside DynamoDB's 2 KB partition key, and a URL stays short).

``#``, ``/``, ``?``, ``%`` and non-ASCII letters are fine: in a URL path they travel
percent-encoded (``/v1/users/a%2Fb/recommendations``), in JSON as themselves.

``ID_PATTERN`` spells the character part for regular-expression engines that all read it the
same way: Python's ``re``, pydantic's (Rust) regex, JSON Schema (ECMA) and DuckDB's RE2.
"""

from __future__ import annotations

import re

MAX_ID_LENGTH = 256
MAX_SEGMENT_LENGTH = 64
_CHAR = r"[^\x00-\x1f\x7f-\x9f,]"  # any character but a control character or a comma
_END = r"[^\x00-\x1f\x7f-\x9f, ]"  # ... nor a space, at either end
ID_PATTERN = rf"^{_END}(?:{_CHAR}*{_END})?$"
ID_CHARACTERS = "text without control characters or commas, and without a space at either end"
ID_RULE = f"{ID_CHARACTERS}, 1 to {MAX_ID_LENGTH} characters"
_ID = re.compile(ID_PATTERN)
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # only a broken decoding makes one; no UTF-8 text holds it


def id_problem(value: str, max_length: int = MAX_ID_LENGTH) -> str | None:
    """Why ``value`` is not a usable id, or None when it is one."""
    if not value:
        return "is empty"
    if len(value) > max_length:
        return f"has {len(value)} characters, more than {max_length}"
    if not _ID.fullmatch(value) or _SURROGATE.search(value):  # fullmatch: "$" would pass a final \n
        return f"must be {ID_CHARACTERS}"
    return None
