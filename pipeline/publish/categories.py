"""A version's category table (``contract.CategoryTable``): built from the precomputed lists' item
categories, and written once per publish before any row whose codes point into it."""

from __future__ import annotations

import contract
from pipeline.precompute.recommend import Precomputed


def category_table(pre: Precomputed) -> contract.CategoryTable | None:
    """The version's category table (``contract.CategoryTable``), None without categories."""
    return None if pre.categories is None else contract.category_table(pre.categories.tolist())


def put_category_table(client, table: str, version: str, pre: Precomputed, expires_at: int) -> None:
    """Write the version's category table (when it has categories): before any of its rows, so that
    no reader finds a row whose codes it cannot name. Idempotent: a resumed publish writes the same."""
    categories = category_table(pre)
    if categories is not None:
        client.put_item(TableName=table, Item=contract.encode_category_table(version, categories, expires_at))
