"""The impression record of every answer: on stdout (Lambda), and through the log group to the bucket."""

from __future__ import annotations

import io
import json
import re
import uuid
from datetime import UTC, datetime

import boto3
import pytest
from fastapi.testclient import TestClient
from mangum import Mangum

import contract
from infra.local.impressions import read_impressions, wire_impressions
from lambda_api.app import create_app
from lambda_api.impressions import LogGroupSink, StdoutSink
from pipeline.feedback import records
from tests.lambda_api.api_fixtures import VERSION
from tests.lambda_api.test_handler import http_v2_event


def _lines(captured: str) -> list[records.Impression]:
    """The records the API wrote, read back by the one reader the nightly uses (none of them bad)."""
    parsed = records.parse_object(captured.encode())
    assert parsed.bad == []
    return parsed.records


def test_a_user_answer_writes_one_record_naming_what_was_served(api, capsys):
    capsys.readouterr()
    body = api.get("/v1/users/12347/recommendations", params={"k": 3}).json()
    captured = capsys.readouterr().out
    (record,) = _lines(captured)
    assert record.rec_id == body["rec_id"]
    assert (record.route, record.user_id, record.item_id) == ("user", "12347", None)
    assert (record.version, record.source, record.experiment, record.arm) == (VERSION, "personal", None, None)
    assert record.items == ("85123A", "22423", "21733")
    assert (body["experiment"], body["arm"]) == (None, None)
    (line,) = [json.loads(line) for line in captured.splitlines() if line.startswith("{")]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])  # UTC, milliseconds
    assert abs((record.ts - datetime.now(UTC).replace(tzinfo=None)).total_seconds()) < 60


def test_a_similar_items_answer_and_a_fallback_are_recorded_as_such(api, capsys):
    capsys.readouterr()
    similar = api.get("/v1/items/85123A/similar").json()
    stranger = api.get("/v1/users/stranger/recommendations", params={"k": 2}).json()
    first, second = _lines(capsys.readouterr().out)
    assert (first.rec_id, first.route, first.item_id, first.user_id) == (
        similar["rec_id"],
        "similar",
        "85123A",
        None,
    )
    assert first.items == ("21733", "22423", "47566")
    assert (second.rec_id, second.source, second.items) == (
        stranger["rec_id"],
        "fallback",
        ("85123A", "22423"),
    )


def test_refused_requests_write_no_record(api, capsys):
    capsys.readouterr()
    assert api.get("/v1/users/12347/recommendations", params={"k": 999}).status_code == 422
    assert _lines(capsys.readouterr().out) == []


def test_hostile_ids_stay_one_line_and_round_trip():
    # any id the id rule allows (no commas: the rule refuses them everywhere)
    hostile = 'a"b\\c#d;e/ü\u2028' + "x" * 200
    record = contract.Impression(
        "r", contract.impression_time(), "user", hostile, None, "v", None, None, "x", (hostile,)
    )
    line = contract.encode_impression(record)
    assert "\n" not in line and line.startswith('{"rec_id":')  # what the subscription filter selects
    (read,) = _lines(line)
    assert (read.rec_id, read.user_id, read.items, read.source) == ("r", hostile, (hostile,), "x")
    out = io.StringIO()
    StdoutSink(out).write(line)
    assert out.getvalue().count("\n") == 1


@pytest.fixture
def impression_path(local_aws):
    """A log group wired to a fresh bucket through Firehose, as the stack wires it."""
    session = boto3.session.Session(region_name=local_aws.region)
    bucket = f"recs-imp-{uuid.uuid4().hex[:8]}"
    session.client("s3").create_bucket(Bucket=bucket)
    return wire_impressions(session, f"/aws/lambda/recs-test-{uuid.uuid4().hex[:8]}-api", bucket)


def test_answers_through_mangum_land_in_the_bucket_through_the_log_group(
    settings_for, published, impression_path
):
    settings = settings_for(
        published, impressions="log_group", impressions_log_group=impression_path.log_group
    )
    app = create_app(settings)
    handler = Mangum(app, lifespan="off")
    answers = [
        json.loads(handler(http_v2_event(f"/v1/users/{user}/recommendations", "k=2"), None)["body"])
        for user in ("12347", "user@example.com", "stranger", "12347")
    ]
    app.state.runtime.impressions.flush()  # what the background thread does every second
    landed = read_impressions(boto3.client("s3"), impression_path.bucket)
    assert [r.rec_id for r in landed] == [a["rec_id"] for a in answers]  # each once, in order
    assert [r.user_id for r in landed] == ["12347", "user@example.com", "stranger", "12347"]
    assert [r.items for r in landed] == [tuple(i["item_id"] for i in a["items"]) for a in answers]
    assert {r.version for r in landed} == {VERSION}
    keys = boto3.client("s3").list_objects_v2(Bucket=impression_path.bucket)["Contents"]
    assert all(k["Key"].startswith("impressions/20") for k in keys)  # date-partitioned


def test_the_background_thread_sends_the_queue_without_being_asked(local_aws, impression_path):
    sink = LogGroupSink(lambda: boto3.client("logs"), impression_path.log_group, flush_seconds=0.05)
    line = contract.encode_impression(
        contract.Impression(
            "r1", contract.impression_time(), "user", "u", None, "v", None, None, "personal", ("a",)
        )
    )
    sink.write(line)
    s3 = boto3.client("s3")
    for _ in range(200):  # a condition, not a sleep: the record is in the bucket
        if sink.stats.sent:
            break
        sink._wake.wait(0.05)
    assert sink.stats.sent == 1 and sink.stats.dropped == 0
    assert [r.rec_id for r in read_impressions(s3, impression_path.bucket)] == ["r1"]


def test_a_missing_log_group_drops_and_counts_the_lines_and_the_answer_still_goes(settings_for, published):
    settings = settings_for(published, impressions="log_group", impressions_log_group="/no/such/group")
    app = create_app(settings)
    response = TestClient(app).get("/v1/users/12347/recommendations")
    assert response.status_code == 200
    app.state.runtime.impressions.flush()
    assert (app.state.runtime.impressions.stats.sent, app.state.runtime.impressions.stats.dropped) == (0, 1)


def test_log_group_sink_needs_a_group():
    from lambda_api.settings import ApiSettings

    with pytest.raises(ValueError, match="RECS_IMPRESSIONS_LOG_GROUP"):
        ApiSettings(table_name="recs", impressions="log_group")


def test_a_stdout_line_is_flushed_before_the_answer_returns():
    """Lambda may freeze the container right after the answer: nothing may wait in a buffer."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(io.BufferedWriter(raw, buffer_size=1 << 16), encoding="utf-8")  # type: ignore[arg-type]
    line = contract.impression_line("r", "t", "user", "ü", None, "v", None, None, "personal", ["a"])
    StdoutSink(stream).write(line)
    assert raw.getvalue() == (line + "\n").encode()


def test_with_impressions_off_an_answer_builds_no_line(settings_for, published, monkeypatch, capsys):
    """``off`` is the hit path as it was before the record: not a line built and thrown away."""
    from lambda_api import impressions

    built: list[str] = []
    monkeypatch.setattr(impressions, "line_of", lambda answer: built.append(answer.rec_id) or "")
    for setting, expected in (("off", 0), ("stdout", 1)):
        client = TestClient(create_app(settings_for(published, impressions=setting)))
        assert client.get("/v1/users/12347/recommendations").status_code == 200
        assert len(built) == expected, setting
