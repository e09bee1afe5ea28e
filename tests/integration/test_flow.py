"""The whole nightly flow against a local moto server, then the API over what it published."""

from __future__ import annotations

import json
import uuid

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import contract
from lambda_api.app import create_app
from lambda_api.deps import get_store
from lambda_api.handler import handler
from lambda_api.settings import ApiSettings, get_settings
from pipeline.data import warehouse
from pipeline.flow import nightly
from pipeline.model import artifact, lookup
from pipeline.settings import load_settings
from tests.paths import SAMPLE

MONTHS = ["2011-09", "2011-10", "2011-11"]
K = 10


@pytest.fixture(scope="module")
def run(tmp_path_factory, local_aws, dynamodb, prefect_harness):
    """One nightly run on three months of the retail sample; its settings and summary."""
    workdir = tmp_path_factory.mktemp("nightly")
    settings = load_settings(
        SAMPLE / "retail.toml",
        warehouse=workdir / "warehouse.duckdb",
        artifacts_dir=workdir / "artifacts",
        table_name=f"recs-flow-{uuid.uuid4().hex[:8]}",
        aws_endpoint_url=local_aws.endpoint_url,
        holdout_days=14,
        k=K,
        similar_k=5,
    )
    events = [str(SAMPLE / "events" / f"{month}.parquet") for month in MONTHS]
    summary = nightly(events=events, settings=settings)
    return settings, summary


@pytest.fixture(scope="module")
def user_rows(run, dynamodb) -> dict[str, contract.RankedItems]:
    """Every user row of the published version, read straight from the table."""
    settings, summary = run
    key = contract.category_table_key(summary.model_version)
    table = contract.decode_category_table(dynamodb.get_item(TableName=settings.table_name, Key=key)["Item"])
    rows, kwargs = {}, {}
    while True:
        page = dynamodb.scan(TableName=settings.table_name, **kwargs)
        for item in page["Items"]:
            if item["pk"]["S"].startswith("user#") and item["sk"]["S"] == summary.model_version:
                rows[item["pk"]["S"].removeprefix("user#")] = contract.decode_row(item, table)
        if "LastEvaluatedKey" not in page:
            return rows
        kwargs = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


@pytest.fixture(scope="module")
def seen(run) -> dict[str, set[str]]:
    """Items each user interacted with in the training data."""
    settings, summary = run
    model = artifact.load(settings.artifacts_dir, summary.model_version)
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        pairs = con.execute("SELECT DISTINCT user_id, item_id FROM raw_events").fetchall()
    known = set(model.user_ids.tolist())
    out: dict[str, set[str]] = {}
    for user_id, item_id in pairs:
        if user_id in known:
            out.setdefault(user_id, set()).add(item_id)
    return out


@pytest.fixture
def client(run, monkeypatch):
    """The API configured from the environment, as in a Lambda container, on the run's table."""
    settings, _ = run
    monkeypatch.setenv("RECS_TABLE_NAME", settings.table_name)
    # this test checks answers, not timeouts: give a busy CI machine's moto server room to answer
    monkeypatch.setenv("RECS_DYNAMODB_READ_TIMEOUT", "10")
    monkeypatch.setenv("RECS_DYNAMODB_CONNECT_TIMEOUT", "10")
    get_settings.cache_clear()
    get_store.cache_clear()
    yield TestClient(create_app(ApiSettings()))  # its own app and settings, read from the environment now
    get_settings.cache_clear()
    get_store.cache_clear()


def test_the_run_publishes_a_model_that_beats_the_popular_baseline(run):
    _, summary = run
    assert summary.published, summary.reason
    assert summary.metrics["model"]["ndcg@10"] > summary.metrics["popular"]["ndcg@10"]
    assert summary.rows_published > summary.users
    sizes = summary.row_sizes  # a sample of the rows, measured before they were written
    assert 0 < sizes["mean_bytes"] <= sizes["largest_bytes"] < 1024 and sizes["over_one_unit"] == 0


def test_every_training_user_has_exactly_k_distinct_unseen_items(run, user_rows, seen):
    settings, summary = run
    model = artifact.load(settings.artifacts_dir, summary.model_version)
    assert set(user_rows) == set(model.user_ids.tolist())
    depth = K + settings.candidates  # k items and the spare candidates (pipeline.precompute.rules)
    for user_id, ranked in user_rows.items():
        assert len(ranked.item_ids) == depth, user_id
        assert len(set(ranked.item_ids)) == depth, user_id
        assert not set(ranked.item_ids) & seen[user_id], user_id
        assert list(ranked.scores) == sorted(ranked.scores, reverse=True), user_id


def test_the_api_answers_a_known_user_with_the_published_version(client, run, user_rows):
    _, summary = run
    user_id = sorted(user_rows)[0]
    body = client.get(f"/v1/users/{user_id}/recommendations", params={"k": 5}).json()
    assert body["model_version"] == summary.model_version
    assert body["source"] == "personal"
    assert [i["item_id"] for i in body["items"]] == list(user_rows[user_id].item_ids[:5])


def test_an_unknown_user_gets_the_popular_fallback(client, run, dynamodb):
    settings, summary = run
    body = client.get("/v1/users/nobody-we-know/recommendations", params={"k": K}).json()
    assert body["source"] == "fallback"
    assert body["model_version"] == summary.model_version
    key = contract.row_key(contract.popular_pk(), summary.model_version)
    popular = contract.decode_row(dynamodb.get_item(TableName=settings.table_name, Key=key)["Item"])
    assert [i["item_id"] for i in body["items"]] == list(popular.item_ids[:K])
    assert [i["score"] for i in body["items"]] == pytest.approx(list(popular.scores[:K]))


def test_k_beyond_what_was_precomputed_is_a_422_that_says_so(client, run):
    _, summary = run
    response = client.get("/v1/users/12347/recommendations", params={"k": K + 1})
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"k={K + 1} exceeds the {K} items precomputed for model version {summary.model_version}"
    )


def api_gateway_v2_event(path: str, query: str = "") -> dict:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "recs.example.com", "accept": "application/json"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "recs.example.com",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "10.0.0.1",
                "userAgent": "pytest",
            },
            "requestId": "id",
            "routeKey": "$default",
            "stage": "$default",
            "time": "22/Nov/2026:02:15:00 +0000",
            "timeEpoch": 1795400100000,
        },
        "isBase64Encoded": False,
    }


def test_the_mangum_handler_answers_an_api_gateway_v2_event(client, run, user_rows):
    _, summary = run
    user_id = sorted(user_rows)[-1]
    response = handler(api_gateway_v2_event(f"/v1/users/{user_id}/recommendations", "k=3"), None)
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["model_version"] == summary.model_version
    assert [i["item_id"] for i in body["items"]] == list(user_rows[user_id].item_ids[:3])


def test_the_run_writes_its_web_report_and_the_index_over_versions(run):
    settings, summary = run
    page = settings.artifacts_dir / summary.model_version / "report.html"
    text = page.read_text()
    assert f"Run report: model {summary.model_version}" in text and text.count("data:image/png;base64,") >= 3
    examples = text[text.index("Example lists") :]
    names = lookup.item_names(settings.item_names)
    assert "cold (&lt;= 3 items)" in examples and "we suggest" in examples
    assert sum(name in examples for name in names.values()) >= 5  # items shown by their catalog names
    index = (settings.artifacts_dir / "index.html").read_text()
    assert f'href="{summary.model_version}/report.html"' in index


def test_the_run_leaves_its_metrics_table_and_report_as_prefect_artifacts(run):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    settings, summary = run
    meta = artifact.load_meta(settings.artifacts_dir, summary.model_version)
    with get_client(sync_client=True) as prefect:
        found = {
            key: [
                a
                for a in prefect.read_artifacts(
                    artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
                )
                if summary.model_version in (a.description or "")
            ]
            for key in ("nightly-metrics", "nightly-report")
        }
    (metrics,), (report,) = found["nightly-metrics"], found["nightly-report"]
    assert metrics.description == f"Holdout metrics of {summary.model_version}: passed"
    rows = {
        row["list"]: row
        for row in (json.loads(metrics.data) if isinstance(metrics.data, str) else metrics.data)
    }
    ndcg = f"ndcg@{meta.evaluation.k}"
    assert rows["model"][ndcg] == pytest.approx(meta.evaluation.overall["model"][ndcg])
    assert rows["popular"][ndcg] == pytest.approx(meta.evaluation.overall["popular"][ndcg])
    assert report.description == f"Run {summary.model_version}"
    assert f"Run report: model {summary.model_version}" in report.data
    assert "data:image/png;base64," in report.data  # the plots travel inside the artifact


def test_rows_carry_each_items_category_from_the_sample_catalog(run, user_rows):
    catalog = pd.read_csv(SAMPLE / "items.csv", dtype=str, keep_default_na=False)
    category = dict(zip(catalog["item_id"], catalog["category"], strict=True))
    for ranked in list(user_rows.values())[:50]:
        assert ranked.categories == tuple(category.get(i) for i in ranked.item_ids)
