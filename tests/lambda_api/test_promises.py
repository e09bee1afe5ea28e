"""Promises of the API that no other test held: ``no-store`` on the operational routes, the log line
naming a version change, and ``recs api`` serving the app for real."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.request

from fastapi.testclient import TestClient

from infra.local.aws import free_port
from pipeline.ops.children import answers
from tests.lambda_api.api_fixtures import USERS, VERSION, put_version


def test_ready_and_stats_are_never_cached_even_with_a_cacheable_setting(app_for, published):
    api = TestClient(app_for(published, cache_control="public, max-age=600"))
    ready, stats = api.get("/ready"), api.get("/stats")
    assert (ready.status_code, stats.status_code) == (200, 200)
    assert (ready.headers["cache-control"], stats.headers["cache-control"]) == ("no-store", "no-store")
    assert api.get("/v1/items/85123A/similar").headers["cache-control"] == "public, max-age=600"


def wait_for(condition, ceiling: float = 30.0, interval: float = 0.05):
    """``condition()``'s first truthy value, polling until a generous ceiling (then the last value)."""
    deadline = time.monotonic() + ceiling
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(interval)
    return value


def test_a_new_version_is_logged_as_serving_v_was_w(app_for, empty_table, dynamodb, caplog):
    put_version(dynamodb, empty_table)
    api = TestClient(app_for(empty_table, pointer_refresh_seconds=0.05))
    caplog.set_level(logging.INFO, logger="lambda_api.store")
    assert api.get("/v1/users/12347/recommendations").json()["model_version"] == VERSION
    put_version(dynamodb, empty_table, version="v2-next")

    def serves_v2():
        return api.get("/v1/users/12347/recommendations").json()["model_version"] == "v2-next"

    assert wait_for(serves_v2)
    changes = [r.getMessage().split(";")[0] for r in caplog.records if r.getMessage().startswith("serving")]
    assert changes == [
        f"serving model version {VERSION} (was None)",
        f"serving model version v2-next (was {VERSION})",
    ]


def test_recs_api_serves_the_app_on_the_given_port(local_aws, published, tmp_path):
    port = free_port()
    env = {**os.environ, **local_aws.environment(), "RECS_TABLE_NAME": published}
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "api", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "api.log").open("w"),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        assert answers(f"{base}/health", process, timeout=60), (tmp_path / "api.log").read_text()
        with urllib.request.urlopen(f"{base}/v1/users/12347/recommendations?k=2", timeout=10) as response:
            body = json.load(response)
        assert [i["item_id"] for i in body["items"]] == list(USERS["12347"][0][:2])
        assert body["model_version"] == VERSION
    finally:
        process.terminate()
        assert process.wait(timeout=30) is not None
