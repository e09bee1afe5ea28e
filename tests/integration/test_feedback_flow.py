"""The nightly with an impression log on the local S3: it loads the log once, joins it with the
events, and its report and artifacts hold the online metrics and the experiment's verdict."""

from __future__ import annotations

import json

import boto3
import duckdb

from infra.local.synthetic import SyntheticSpec, write_daily
from pipeline.flow import nightly
from tests.pipeline.feedback.logs import envelope, firehose_object, json_lines, put, record

TINY = SyntheticSpec(events=5_000, users=250, items=100, days=10, clusters=6, seed=11)


def test_the_nightly_measures_what_users_did_with_the_answers(
    tmp_path, run_settings, local_aws, prefect_harness
):
    s3 = boto3.client("s3", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    bucket = f"stack-{tmp_path.name[-8:].lower().replace('_', '-')}"
    s3.create_bucket(Bucket=bucket)
    answers = [
        record(
            1, user="u1", items=["sku-1", "sku-2"], experiment="e1", arm="control", ts="2026-01-05T12:00:00Z"
        ),
        record(
            2,
            user="u2",
            items=["sku-3"],
            experiment="e1",
            arm="treatment",
            version="v2",
            ts="2026-01-05T12:00:00Z",
        ),
    ]
    key = "impressions/2026/01/05/12/recs-impressions-1-2026-01-05-12-00-00-abc"
    s3.put_object(Bucket=bucket, Key=key, Body=firehose_object([envelope(answers + ["END RequestId: 1"])]))
    events = tmp_path / "events"
    write_daily(TINY, events)
    clicks = [
        {
            "user_id": "u1",
            "item_id": "sku-2",
            "event_type": "view",
            "ts": "2026-01-05T12:05:00Z",
            "rec_id": "r1",
        },
        {
            "user_id": "u2",
            "item_id": "sku-3",
            "event_type": "view",
            "ts": "2026-01-05T12:06:00Z",
            "rec_id": "lost",
        },
    ]
    put(events / "clicks.jsonl", json_lines(clicks))
    settings = run_settings(k=10, similar_k=5, impressions_uri=f"s3://{bucket}/impressions/")

    summary = nightly(events=[str(events)], settings=settings)

    directory = settings.artifacts_dir / summary.model_version
    saved = json.loads((directory / "feedback.json").read_text())
    assert saved["impressions_loaded"]["records"] == 2 and saved["impressions_loaded"]["skipped_lines"] == 1
    arms = {g["key"]["arm"]: g for g in saved["online"]["groups"] if g["grouping"] == ["experiment", "arm"]}
    assert (arms["control"]["ctr"]["value"], arms["treatment"]["ctr"]["value"]) == (1.0, 0.0)
    assert saved["online"]["events"]["with_unknown_rec_id"] == 1
    assert [e["experiment"] for e in saved["experiments"]] == ["e1"]
    report = (directory / "report.md").read_text()
    assert "## Online: what users did next" in report and "**1 with a rec_id no logged answer has**" in report
    assert "### Experiment e1: no winner on ctr" in report and (directory / "experiments.png").is_file()

    nightly(events=[str(events)], settings=settings)  # the next night: the same object is not loaded twice
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM impressions").fetchone() == (2,)
        assert con.execute("SELECT count(*) FROM impression_objects").fetchone() == (1,)
