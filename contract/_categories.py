"""A version's category table: each item's category on a row as a short code into one list.

Repeating category paths on every row cost about 220 bytes of a 60-item row (two write units
instead of one); a code of one character per item costs 60. The version's distinct categories
are stored once, in their own item, written before any row of the version:

    pk                sk          attributes
    ----------------  ----------  --------------------------------------------------------
    meta#categories   <version>   names (S, JSON list of category paths, sorted), expires_at

Code 0 means "no category", code n the n-th name (from 1). A code is ``width`` characters of
``CODE_ALPHABET`` (base 64, most significant first), the fewest that count to ``len(names)``: one
character up to 63 categories, two up to 4,095, three up to 262,143. A row's ``cats`` (schema 2)
is its items' codes, concatenated; the reader knows the width from the row's item count.

The API reads a version's table once and keeps it (a version's table never changes).
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from contract._keys import TTL_ATTRIBUTE, row_key

CATEGORY_TABLE_PK = "meta#categories"
CODE_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase + "-_"
MAX_TABLE_BYTES = 350_000  # DynamoDB's item limit is 400 KB


@dataclass(frozen=True)
class CategoryTable:
    """A version's distinct categories; code n (from 1) is ``names[n - 1]``, code 0 no category."""

    names: tuple[str, ...]

    @cached_property
    def width(self) -> int:
        """Characters per code: the fewest base-64 digits that count to ``len(names)``."""
        width = 1
        while len(CODE_ALPHABET) ** width <= len(self.names):
            width += 1
        return width

    @cached_property
    def code_of(self) -> dict[str | None, str]:
        """Each category's code (None: no category)."""
        return {name: _code(n, self.width) for n, name in enumerate((None, *self.names))}

    @cached_property
    def _name_of(self) -> dict[str, str | None]:
        return {code: name for name, code in self.code_of.items()}

    def codes(self, categories: Sequence[str | None]) -> str:
        """The ``cats`` attribute of a row whose items have ``categories``."""
        try:
            return "".join(map(self.code_of.__getitem__, categories))
        except KeyError as err:
            raise ValueError(f"category {err.args[0]!r} is not in the version's category table") from None

    def decode(self, codes: str, n_items: int) -> tuple[str | None, ...]:
        """Each item's category of a row of ``n_items`` items whose ``cats`` is ``codes``."""
        width = len(codes) // n_items if n_items else self.width
        if width != self.width or len(codes) != width * n_items:
            raise ValueError(
                f"a row's category codes ({len(codes)} characters for {n_items} items) do not match a "
                f"category table of {len(self.names)} names ({self.width} characters a code)"
            )
        parts: Iterable[str] = codes  # one character a code: the string's characters
        if width > 1:
            parts = (codes[i : i + width] for i in range(0, len(codes), width))
        try:
            return tuple(map(self._name_of.__getitem__, parts))
        except KeyError as err:
            raise ValueError(
                f"category code {err.args[0]!r} is not in a category table of {len(self.names)} names"
            ) from None


def _code(n: int, width: int) -> str:
    digits = []
    for _ in range(width):
        n, digit = divmod(n, len(CODE_ALPHABET))
        digits.append(CODE_ALPHABET[digit])
    return "".join(reversed(digits))


def category_table(categories: Iterable[str | None]) -> CategoryTable:
    """The table of the distinct categories among ``categories`` (None left out), sorted."""
    return CategoryTable(tuple(sorted({c for c in categories if c is not None})))


def category_table_key(version: str) -> dict:
    return row_key(CATEGORY_TABLE_PK, version)


def encode_category_table(version: str, table: CategoryTable, expires_at: int) -> dict:
    """The table's item under ``version``, expiring with the version's rows."""
    names = json.dumps(list(table.names), separators=(",", ":"), ensure_ascii=False)
    if len(names.encode()) > MAX_TABLE_BYTES:
        raise ValueError(
            f"the category table of version {version} has {len(table.names)} categories "
            f"({len(names.encode())} bytes): more than the {MAX_TABLE_BYTES} bytes one item may hold"
        )
    return {
        **category_table_key(version),
        "names": {"S": names},
        TTL_ATTRIBUTE: {"N": str(expires_at)},
    }


def decode_category_table(item: dict) -> CategoryTable:
    return CategoryTable(tuple(json.loads(item["names"]["S"])))
