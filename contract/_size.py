"""An item's size as DynamoDB bills it."""

from __future__ import annotations

WRITE_UNIT_BYTES = 1024  # an item up to this size costs one write unit


def item_size(item: dict) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values.

    Strings and binaries count their bytes, numbers about one byte per two
    significant digits plus one (the documented rule), booleans and nulls one.
    """
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "B":
        return len(data)
    if kind == "N":
        digits = data.lstrip("-").replace(".", "").split("e")[0].split("E")[0].strip("0")
        return (len(digits) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    raise ValueError(f"item_size cannot size attribute type {kind!r}")
