"""recs export: every user of a version once, k items each, none unavailable at export time."""

from __future__ import annotations

import json
import uuid

import boto3
import numpy as np
import pandas as pd
import pytest

from pipeline import cli
from pipeline.data.catalog import CatalogItem
from pipeline.errors import PipelineError
from pipeline.ops.export import export_version
from pipeline.publish.availability import set_availability
from tests.pipeline.publish.fixtures import make_precomputed, run_publish

K = 6


@pytest.fixture
def published(dynamodb, table_name):
    """A version whose user rows hold K + 4 items (k = K), published to a fresh table."""
    pre = make_precomputed(users=230, items=30, k=K + 4)
    pre = pre.__class__(pre.user_ids, pre.item_ids, pre.users, pre.similar, pre.popular, K)
    run_publish(dynamodb, table_name, "v1", pre)
    return pre


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_every_user_once_with_k_items_none_unavailable(dynamodb, table_name, published, tmp_path, fmt):
    pre = published
    down = set(pre.item_ids[:3].tolist())
    set_availability(dynamodb, table_name, unavailable=sorted(down)[:2])
    items = [CatalogItem(i, f"name of {i}", "home/kitchen", None, i not in sorted(down)[2:], None)
             for i in pre.item_ids.tolist()]  # fmt: skip
    out = tmp_path / f"lists.{fmt}"
    report = export_version(dynamodb, table_name, "v1", pre.user_ids, items, str(out), fmt)
    frame = pd.read_parquet(out) if fmt == "parquet" else pd.read_csv(out, dtype={"user_id": str})
    assert (report.users, report.missing_users) == (230, 0)
    assert sorted(frame["user_id"].unique().tolist()) == sorted(pre.user_ids.tolist())
    per_user = frame.groupby("user_id")["rank"].agg(list)
    short = {u for u, ranks in per_user.items() if len(ranks) < K}
    assert all(ranks == list(range(1, len(ranks) + 1)) for ranks in per_user)
    assert len(short) == report.short_lists and report.rows == len(frame)
    assert (frame.groupby("user_id").size() == K).sum() == 230 - len(short)
    assert not down & set(frame["item_id"])
    first = frame.iloc[0]
    assert (first["name"], first["category"]) == (f"name of {first['item_id']}", "home/kitchen")
    user0 = frame[frame["user_id"] == pre.user_ids[0]]["item_id"].tolist()
    stored = [pre.item_ids[i] for i in pre.users.ids[0]]
    assert user0 == [i for i in stored if i not in down][:K]


def test_an_unknown_version_is_refused_naming_it(dynamodb, table_name, published, tmp_path):
    with pytest.raises(PipelineError, match="version v9 is not in table .*registry"):
        export_version(
            dynamodb, table_name, "v9", published.user_ids, [], str(tmp_path / "x.parquet"), "parquet"
        )


def test_cli_exports_the_served_version_to_s3(
    dynamodb, table_name, published, tmp_path, local_aws, monkeypatch, capsys
):
    ids = tmp_path / "artifacts" / "v1"
    ids.mkdir(parents=True)
    np.savez(
        ids / "ids.npz", user_ids=published.user_ids.astype(str), item_ids=published.item_ids.astype(str)
    )
    s3 = boto3.client("s3", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    bucket = f"crm-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    monkeypatch.setenv("RECS_TABLE_NAME", table_name)
    monkeypatch.setenv("RECS_AWS_ENDPOINT_URL", local_aws.endpoint_url)
    monkeypatch.setenv("RECS_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("RECS_WAREHOUSE", str(tmp_path / "none.duckdb"))
    assert cli.main(["export", "--out", f"s3://{bucket}/out/lists.csv"]) == 0
    s3.download_file(bucket, "out/lists.csv", str(tmp_path / "got.csv"))
    frame = pd.read_csv(tmp_path / "got.csv", dtype={"user_id": str})
    assert frame["user_id"].nunique() == 230 and len(frame) == 230 * K


def test_show_user_names_each_item_from_the_catalog(
    dynamodb, table_name, published, tmp_path, local_aws, monkeypatch, capsys
):
    from pipeline.data import warehouse
    from pipeline.data.catalog import load_catalog

    pre = published
    named = pre.item_ids[: len(pre.item_ids) // 2].tolist()
    catalog = pd.DataFrame(
        {"item_id": named, "name": [f"Name {i}" for i in named], "category": ["home"] * len(named)}
    )
    catalog.to_csv(tmp_path / "items.csv", index=False)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        load_catalog(con, [tmp_path / "items.csv"])
    monkeypatch.setenv("RECS_TABLE_NAME", table_name)
    monkeypatch.setenv("RECS_AWS_ENDPOINT_URL", local_aws.endpoint_url)
    monkeypatch.setenv("RECS_WAREHOUSE", str(tmp_path / "w.duckdb"))
    assert cli.main(["show-user", pre.user_ids[0], "--k", "5"]) == 0
    shown = json.loads(capsys.readouterr().out)
    for item in shown["items"]:
        known = item["item_id"] in named
        assert (item["name"], item["category"]) == (
            (f"Name {item['item_id']}", "home") if known else (None, None)
        )
