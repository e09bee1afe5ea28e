"""A version's category table: written by the publish before its rows, read back before the flip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import contract
from pipeline.errors import PublishError
from pipeline.publish import writer
from tests.pipeline.publish.fixtures import (
    make_precomputed,
    pointer_version,
    run_publish,
    version_rows_in_table,
)


def with_categories(pre):
    categories = np.array(
        [f"home/c{j % 4}" if j % 5 else None for j in range(len(pre.item_ids))], dtype=object
    )
    return dataclasses.replace(pre, categories=categories)


def test_the_table_is_published_with_the_rows_and_names_every_code(dynamodb, table_name):
    pre = with_categories(make_precomputed(users=30, items=20, k=8))
    run_publish(dynamodb, table_name, "v1", pre)
    item = dynamodb.get_item(TableName=table_name, Key=contract.category_table_key("v1"))["Item"]
    table = contract.decode_category_table(item)
    assert table.names == ("home/c0", "home/c1", "home/c2", "home/c3")
    rows = version_rows_in_table(dynamodb, table_name, "v1")
    assert item[contract.TTL_ATTRIBUTE] == rows[0][contract.TTL_ATTRIBUTE]
    category_of = dict(zip(pre.item_ids.tolist(), pre.categories.tolist(), strict=True))
    for row in rows:
        ranked = contract.decode_row(row, table)
        assert ranked.categories == tuple(category_of[i] for i in ranked.item_ids)
    assert contract.CATEGORY_TABLE_PK in writer.check_keys(pre)
    assert contract.CATEGORY_TABLE_PK not in writer.check_keys(make_precomputed(users=30, items=20, k=8))


def test_a_version_whose_table_did_not_land_is_not_flipped(dynamodb, table_name, monkeypatch):
    monkeypatch.setattr(writer, "put_category_table", lambda *args: None)
    pre = with_categories(make_precomputed(users=30, items=20, k=8))
    with pytest.raises(PublishError, match=r"1 of .* sampled rows cannot be read back .*meta#categories"):
        run_publish(dynamodb, table_name, "v1", pre)
    assert pointer_version(dynamodb, table_name) is None
