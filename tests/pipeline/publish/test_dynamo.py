"""DynamoDB mechanics: the table's key schema checked or created, batched writes in stream order."""

from __future__ import annotations

import pytest

from pipeline.errors import PublishError
from pipeline.publish import dynamo, writer
from tests.pipeline.publish.fixtures import make_precomputed, run_publish


def test_a_missing_table_is_a_clear_error_unless_creating_is_allowed(dynamodb, table_name):
    with pytest.raises(PublishError, match=f"DynamoDB table {table_name} does not exist"):
        dynamo.check_table(dynamodb, table_name, create=False)
    dynamo.check_table(dynamodb, table_name, create=True)
    dynamo.check_table(dynamodb, table_name, create=False)  # now it is there, with the right keys


@pytest.mark.parametrize(
    ("keys", "types", "wrong"),
    [
        ([("id", "HASH")], [("id", "S")], "has key schema id (HASH, S)"),
        ([("pk", "HASH")], [("pk", "S")], "has key schema pk (HASH, S), but"),
        (
            [("pk", "HASH"), ("sk", "RANGE")],
            [("pk", "S"), ("sk", "N")],
            "has key schema pk (HASH, S), sk (RANGE, N), but",
        ),
    ],
)
def test_a_table_with_another_key_schema_is_refused_naming_table_and_keys(
    dynamodb, table_name, keys, types, wrong
):
    dynamodb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": n, "KeyType": t} for n, t in keys],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in types],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(PublishError) as raised:
        run_publish(dynamodb, table_name, "v1", make_precomputed(3, 4, 2))
    message = str(raised.value)
    assert f"DynamoDB table {table_name} {wrong}" in message
    assert "the item contract needs pk (HASH, S), sk (RANGE, S)" in message


def test_write_rows_reports_batches_in_stream_order_and_returns_the_acknowledged_count(dynamodb, table_name):
    dynamo.check_table(dynamodb, table_name, create=True)
    rows = list(writer.version_rows("v1", make_precomputed(60, 20, 3), expires_at=1))
    seen = []
    written = dynamo.write_rows(dynamodb, table_name, rows, workers=3, on_batch=seen.append)
    assert written == len(rows) == 60 + 20 + 2
    assert seen == [25, 25, 25, 7]
