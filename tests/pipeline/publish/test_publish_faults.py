"""Publishing under faults, against the real moto server, with the real API reading the same table.

Faults are injected with botocore event hooks on the publishing client: throttling
answered before the request leaves, items moved from a real request into
UnprocessedItems, and a publish killed after N batches.
"""

from __future__ import annotations

import itertools
import json
import threading

import boto3
import pytest
from botocore.awsrequest import AWSResponse

import contract
from pipeline.errors import PublishError
from pipeline.publish import dynamo, registry, versions, writer
from pipeline.publish.versions import RollbackError
from tests.pipeline.publish.fixtures import (
    answer,
    api_client,
    expected_user_list,
    make_precomputed,
    pointer_version,
    run_publish,
    version_rows_in_table,
)

BATCH_CALL = "dynamodb.BatchWriteItem"


class Killed(Exception):
    """Stands for the publishing process dying half-way."""


class Faults:
    """Event hooks on one client: count calls, throttle, leave items unprocessed, or die."""

    def __init__(self, client):
        self.client = client
        self.calls = itertools.count(1)
        self.lock = threading.Lock()
        self.dropped = threading.local()
        self.throttled = self.unprocessed = self.pointer_flips = 0

    def _next_call(self) -> int:
        with self.lock:
            return next(self.calls)

    def throttle_every(self, n: int, code: str = "ProvisionedThroughputExceededException") -> Faults:
        def before_call(**_):
            if self._next_call() % n == 0:
                with self.lock:
                    self.throttled += 1
                error = {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {}}
                return AWSResponse("http://injected", 400, {}, None), error
            return None

        self.client.meta.events.register(f"before-call.{BATCH_CALL}", before_call)
        return self

    def leave_half_unprocessed(self) -> Faults:
        """The second half of every request (of 2+ items) is not sent and comes back unprocessed."""

        def before_build(params, **_):
            ((table, requests),) = params["RequestItems"].items()
            keep = (len(requests) + 1) // 2
            self.dropped.table, self.dropped.items = table, requests[keep:]
            params["RequestItems"] = {table: requests[:keep]}

        def after_call(http_response, parsed, **_):
            if http_response.status_code == 200 and self.dropped.items:
                parsed.setdefault("UnprocessedItems", {})[self.dropped.table] = self.dropped.items
                with self.lock:
                    self.unprocessed += len(self.dropped.items)

        self.client.meta.events.register(f"before-parameter-build.{BATCH_CALL}", before_build)
        self.client.meta.events.register(f"after-call.{BATCH_CALL}", after_call)
        return self

    def never_process(self) -> Faults:
        """DynamoDB acknowledges nothing: every request comes back whole as UnprocessedItems."""

        def before_call(params, **_):
            self._next_call()
            request = json.loads(params["body"])["RequestItems"]
            return AWSResponse("http://injected", 200, {}, None), {"UnprocessedItems": request}

        self.client.meta.events.register(f"before-call.{BATCH_CALL}", before_call)
        return self

    def kill_after(self, batches: int) -> Faults:
        def before_call(**_):
            if self._next_call() > batches:
                raise Killed(f"publish killed after {batches} batches")

        self.client.meta.events.register(f"before-call.{BATCH_CALL}", before_call)
        return self

    def count_pointer_flips(self) -> Faults:
        def before_build(params, **_):
            if params.get("Item", {}).get("pk") == contract.POINTER_KEY["pk"]:
                self.pointer_flips += 1

        self.client.meta.events.register("before-parameter-build.dynamodb.PutItem", before_build)
        return self


@pytest.fixture
def new_client(local_aws):
    """A fresh client per call, so that a test's hooks never reach another test."""
    return lambda: boto3.client("dynamodb", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)


def test_throttling_and_unprocessed_items_are_retried_until_every_row_is_in(new_client, dynamodb, table_name):
    pre = make_precomputed(users=80, items=30, k=6)
    faults = Faults(new_client()).throttle_every(4).leave_half_unprocessed()

    report = run_publish(faults.client, table_name, "v1", pre, max_attempts=12)

    assert faults.throttled > 0 and faults.unprocessed > 0
    assert report.rows_written == pre.n_rows == len(version_rows_in_table(dynamodb, table_name, "v1"))
    assert pointer_version(dynamodb, table_name) == "v1"


def test_throttling_is_retried_for_the_throttling_exception_code_too(new_client, dynamodb, table_name):
    pre = make_precomputed(users=30, items=10, k=4)
    faults = Faults(new_client()).throttle_every(2, code="ThrottlingException")
    assert run_publish(faults.client, table_name, "v1", pre).rows_written == pre.n_rows
    assert faults.throttled > 0


def test_rows_never_processed_fail_after_bounded_attempts_and_leave_the_pointer(
    new_client, dynamodb, table_name
):
    run_publish(dynamodb, table_name, "v1", make_precomputed(10, 5, 3, seed=1))
    faults = Faults(new_client()).never_process()

    with pytest.raises(PublishError, match=f"unprocessed by DynamoDB table {table_name} after 3 attempts"):
        run_publish(faults.client, table_name, "v2", make_precomputed(10, 5, 3, seed=2), max_attempts=3)

    assert pointer_version(dynamodb, table_name) == "v1"
    assert registry.registry_entry(dynamodb, table_name, "v2").status == "writing"


def test_throttling_that_never_ends_fails_naming_the_last_error(new_client, dynamodb, table_name):
    faults = Faults(new_client()).throttle_every(1)
    with pytest.raises(PublishError, match="after 2 attempts .last error: .*ProvisionedThroughputExceeded"):
        run_publish(faults.client, table_name, "v1", make_precomputed(5, 5, 2), max_attempts=2)
    assert pointer_version(dynamodb, table_name) is None


def test_an_error_that_is_not_transient_fails_at_once(new_client, dynamodb, table_name):
    faults = Faults(new_client()).throttle_every(1, code="ValidationException")
    with pytest.raises(PublishError, match=f"writing to DynamoDB table {table_name} failed: .*Validation"):
        run_publish(faults.client, table_name, "v1", make_precomputed(5, 5, 2))
    assert faults.throttled == 1  # no retry


def test_a_publish_killed_half_way_serves_the_old_version_and_a_re_run_flips_once(
    new_client, dynamodb, table_name, local_aws, monkeypatch
):
    monkeypatch.setattr(writer, "CHECKPOINT_ROWS", 25)
    old, new = make_precomputed(60, 20, 10, seed=1), make_precomputed(60, 20, 10, seed=2)
    run_publish(dynamodb, table_name, "v1", old)

    # the new version dies after 2 of its 4 batches (one worker: batches complete in order)
    killed = Faults(new_client()).kill_after(2)
    with pytest.raises(Killed):
        run_publish(killed.client, table_name, "v2", new, workers=1)
    half = version_rows_in_table(dynamodb, table_name, "v2")
    assert len(half) == 50 and pointer_version(dynamodb, table_name) == "v1"

    with api_client(monkeypatch, table_name, local_aws.endpoint_url) as api:
        # users whose v2 row is already written still get v1, whole and unmixed
        for i in (0, 1, 30, 59):
            got = answer(api, old.user_ids[i])
            assert got["model_version"] == "v1" and got["source"] == "personal"
            assert [x["item_id"] for x in got["items"]] == expected_user_list(old, i)

        # the re-run resumes after the saved watermark, verifies, and flips the pointer exactly once
        rerun = Faults(new_client()).count_pointer_flips()
        report = run_publish(rerun.client, table_name, "v2", new)
        assert (report.rows_resumed, report.rows_written) == (50, new.n_rows - 50)
        assert report.flipped and report.previous_version == "v1" and rerun.pointer_flips == 1
        assert len(version_rows_in_table(dynamodb, table_name, "v2")) == new.n_rows

        # a further re-run changes nothing
        assert run_publish(rerun.client, table_name, "v2", new).flipped is False
        assert rerun.pointer_flips == 1

        _wait_for_pointer_refresh()
        for i in (0, 59):
            got = answer(api, new.user_ids[i])
            assert got["model_version"] == "v2"
            assert [x["item_id"] for x in got["items"]] == expected_user_list(new, i)

        # rollback: the API answers from v1 again once its pointer refreshes
        done = versions.rollback(dynamodb, table_name)
        assert (done.from_version, done.to_version) == ("v2", "v1")
        _wait_for_pointer_refresh()
        got = answer(api, old.user_ids[5])
        assert got["model_version"] == "v1"
        assert [x["item_id"] for x in got["items"]] == expected_user_list(old, 5)


def _wait_for_pointer_refresh() -> None:
    import time

    time.sleep(0.1)  # the API client refreshes its pointer every 0.05 s


def test_a_crashed_run_restarts_from_zero_when_its_rows_have_changed(new_client, dynamodb, table_name):
    killed = Faults(new_client()).kill_after(1)
    with pytest.raises(Killed):
        run_publish(killed.client, table_name, "v1", make_precomputed(60, 20, 5, seed=1), workers=1)
    other = make_precomputed(60, 20, 5, seed=7)
    report = run_publish(dynamodb, table_name, "v1", other)
    assert (report.rows_resumed, report.rows_written) == (0, other.n_rows)


def test_rollback_refuses_targets_that_cannot_be_served(new_client, dynamodb, table_name):
    with pytest.raises(PublishError, match=f"DynamoDB table {table_name} does not exist"):
        versions.rollback(dynamodb, table_name)
    dynamo.check_table(dynamodb, table_name, create=True)
    with pytest.raises(RollbackError, match=f"no version is published in table {table_name}"):
        versions.rollback(dynamodb, table_name)
    run_publish(dynamodb, table_name, "v1", make_precomputed(5, 5, 2, seed=1))
    with pytest.raises(RollbackError, match="version v1 of table .* has no previous version"):
        versions.rollback(dynamodb, table_name)
    run_publish(dynamodb, table_name, "v2", make_precomputed(5, 5, 2, seed=2))
    run_publish(dynamodb, table_name, "v3", make_precomputed(5, 5, 2, seed=3))
    killed = Faults(new_client()).kill_after(0)
    with pytest.raises(Killed):
        run_publish(killed.client, table_name, "v4", make_precomputed(5, 5, 2, seed=4))

    cases = {
        "v3": "version v3 is already served",
        "v9": "version v9 was never published",
        "v4": "version v4 of table .* was never completely written",
        "v1": "version v1 of table .* is retired",
    }
    for target, refused in cases.items():
        with pytest.raises(RollbackError, match=refused):
            versions.rollback(dynamodb, table_name, to=target)
    with pytest.raises(RollbackError, match="rows of version v2 .* less than 24 hours from now"):
        versions.rollback(dynamodb, table_name, to="v2", now=10**12)
    assert pointer_version(dynamodb, table_name) == "v3"


def test_rollback_refuses_a_version_that_has_lost_rows(dynamodb, table_name):
    first = make_precomputed(5, 5, 2, seed=1)
    run_publish(dynamodb, table_name, "v1", first)
    run_publish(dynamodb, table_name, "v2", make_precomputed(5, 5, 2, seed=2))
    dynamodb.delete_item(TableName=table_name, Key=contract.row_key(contract.popular_pk(), "v1"))
    with pytest.raises(RollbackError, match=r"v1 of table .* has lost rows \(e.g. \['popular#global'\]\)"):
        versions.rollback(dynamodb, table_name)
    assert pointer_version(dynamodb, table_name) == "v2"
