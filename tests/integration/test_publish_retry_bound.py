"""``publish_max_attempts`` bounds the HTTP requests of a batch, with the client the flow really uses.

The flow's ``publish_version`` task (``pipeline.fanout``) builds its DynamoDB client with
``pipeline.aws.client``; here
that production client gets botocore hooks that count every HTTP request BatchWriteItem sends
(``before-send`` fires once per request, botocore's own retries included) and, for the throttled
runs, answer each one 400 ``ProvisionedThroughputExceededException`` instead of moto.
"""

from __future__ import annotations

import pytest

import contract
from pipeline import aws, fanout
from pipeline.errors import PublishError
from pipeline.publish import dynamo
from tests.lambda_api.faults import throttle
from tests.pipeline.publish.fixtures import make_precomputed, pointer_version


@pytest.fixture
def production_client(monkeypatch):
    """``pipeline.aws.client`` as the flow calls it, with every BatchWriteItem HTTP request counted
    (and answered with throttling once ``throttled`` holds True)."""
    sent: list[str] = []
    throttled: list[bool] = []
    production = aws.client

    def counted(service, settings):
        client = production(service, settings)
        client.meta.events.register(
            "before-send.dynamodb.BatchWriteItem", lambda request, **_: sent.append(request.url)
        )
        if throttled:
            throttle(client, operation="BatchWriteItem")
        return client

    monkeypatch.setattr(fanout.aws, "client", counted)
    return sent, throttled


@pytest.mark.timeout(120)
@pytest.mark.parametrize("max_attempts", [1, 2, 3])
def test_endless_throttling_makes_at_most_publish_max_attempts_requests_per_batch(
    run_settings, production_client, dynamodb, max_attempts
):
    sent, throttled = production_client
    settings = run_settings(publish_max_attempts=max_attempts, publish_workers=1)
    pre = make_precomputed(users=6, items=4, k=3)  # 6 + 4 + 2 popular rows: one batch
    assert pre.n_rows <= dynamo.BATCH_SIZE
    throttled.append(True)
    with pytest.raises(PublishError, match=f"after {max_attempts} attempts .*ProvisionedThroughputExceeded"):
        fanout.publish_version.fn("v1", pre, {}, settings)
    assert len(sent) == max_attempts
    assert pointer_version(dynamodb, settings.table_name) is None


def test_without_faults_each_batch_is_one_request_and_the_rows_are_in(
    run_settings, production_client, dynamodb
):
    sent, _ = production_client
    settings = run_settings(publish_max_attempts=2, publish_workers=1)
    pre = make_precomputed(users=40, items=20, k=3)  # 40 + 20 + 2 rows: three batches
    report = fanout.publish_version.fn("v1", pre, {}, settings)
    assert (report.rows_written, len(sent)) == (pre.n_rows, -(-pre.n_rows // dynamo.BATCH_SIZE))
    assert pointer_version(dynamodb, settings.table_name) == "v1"
    pointer = dynamodb.get_item(TableName=settings.table_name, Key=contract.POINTER_KEY)["Item"]
    assert contract.decode_pointer(pointer).k == 3
