"""Publishing against the real moto server: versioned rows, verification, the pointer flip, retention."""

from __future__ import annotations

import json

import pytest
from publish_fixtures import make_precomputed, pointer_version, version_rows_in_table

from lambda_api import contract
from pipeline import publish
from pipeline.publish import PublishError


def run_publish(dynamodb, table, version, pre, **kwargs):
    return publish.publish(dynamodb, table, version, pre, {"model": {"ndcg": 0.1}}, ttl_days=3, **kwargs)


def registry(dynamodb, table, version) -> dict:
    return publish.registry_entry(dynamodb, table, version)


def test_every_row_is_written_under_its_version_and_then_the_pointer_flips(dynamodb, table_name):
    pre = make_precomputed(users=30, items=20, k=8)
    report = run_publish(dynamodb, table_name, "v1", pre)

    rows = version_rows_in_table(dynamodb, table_name, "v1")
    assert report.rows_written == len(rows) == pre.n_rows == 30 + 20 + 2
    assert report.flipped and report.previous_version is None
    assert pointer_version(dynamodb, table_name) == "v1"
    assert {r["sk"]["S"] for r in rows} == {"v1"}
    assert len({r[contract.TTL_ATTRIBUTE]["N"] for r in rows}) == 1
    first_user = contract.user_pk(pre.user_ids[0])
    stored = next(r for r in rows if r["pk"]["S"] == first_user)
    assert list(contract.decode_row(stored).item_ids) == pre.item_ids[pre.users.ids[0]].tolist()
    entry = registry(dynamodb, table_name, "v1")
    assert entry["status"]["S"] == "published"
    assert int(entry["rows"]["N"]) == int(entry["rows_done"]["N"]) == pre.n_rows
    assert json.loads(entry["metrics"]["S"]) == {"model": {"ndcg": 0.1}}


def test_rows_expire_ttl_days_after_publishing_and_the_table_has_ttl_on(dynamodb, table_name):
    import time

    before = int(time.time())
    run_publish(dynamodb, table_name, "v1", make_precomputed(users=3, items=4, k=3))
    expires = int(version_rows_in_table(dynamodb, table_name, "v1")[0][contract.TTL_ATTRIBUTE]["N"])
    assert before + 3 * 86400 <= expires <= int(time.time()) + 3 * 86400
    ttl = dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == contract.TTL_ATTRIBUTE and ttl["TimeToLiveStatus"] == "ENABLED"


def test_a_new_version_names_the_previous_one_and_versions_beyond_retention_are_retired(dynamodb, table_name):
    for seed, version in enumerate(["v1", "v2", "v3"]):
        report = run_publish(dynamodb, table_name, version, make_precomputed(5, 6, 3, seed=seed))
    assert report.previous_version == "v2" and report.retired == ("v1",)
    statuses = {v: registry(dynamodb, table_name, v)["status"]["S"] for v in ("v1", "v2", "v3")}
    assert statuses == {"v1": "retired", "v2": "published", "v3": "published"}


def test_keep_versions_1_retires_every_version_but_the_served_one(dynamodb, table_name):
    run_publish(dynamodb, table_name, "v1", make_precomputed(5, 6, 3, seed=1), keep_versions=1)
    report = run_publish(dynamodb, table_name, "v2", make_precomputed(5, 6, 3, seed=2), keep_versions=1)
    assert report.retired == ("v1",)


def test_re_running_a_published_version_writes_nothing_and_does_not_flip(dynamodb, table_name):
    pre = make_precomputed(5, 6, 3)
    run_publish(dynamodb, table_name, "v1", pre)
    run_publish(dynamodb, table_name, "v2", make_precomputed(5, 6, 3, seed=9))
    again = run_publish(dynamodb, table_name, "v1", pre)
    assert (again.rows_written, again.flipped) == (0, False)
    assert pointer_version(dynamodb, table_name) == "v2"


def test_a_missing_table_is_a_clear_error_unless_creating_is_allowed(dynamodb, table_name):
    with pytest.raises(PublishError, match=f"DynamoDB table {table_name} does not exist"):
        publish.check_table(dynamodb, table_name, create=False)
    publish.check_table(dynamodb, table_name, create=True)
    publish.check_table(dynamodb, table_name, create=False)  # now it is there, with the right keys


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


def test_a_count_that_does_not_match_refuses_the_flip(dynamodb, table_name):
    with pytest.raises(PublishError, match=f"table {table_name} acknowledged 9 rows but the version has 10"):
        publish.verify_version(dynamodb, table_name, "v1", written=9, expected=10, pks=[])


def test_a_sampled_row_that_cannot_be_read_back_refuses_the_flip(dynamodb, table_name):
    pre = make_precomputed(6, 5, 3)
    publish.check_table(dynamodb, table_name, create=True)
    rows = list(publish.version_rows("v1", pre, expires_at=1))
    lost = rows.pop(0)["pk"]["S"]
    assert publish.write_rows(dynamodb, table_name, rows) == pre.n_rows - 1
    keys = publish.check_keys(pre)
    assert lost in keys  # 6 users, sample of 200: every user is sampled
    with pytest.raises(PublishError, match=rf"1 of {len(keys)} sampled rows cannot be read back.*{lost}"):
        publish.verify_version(dynamodb, table_name, "v1", pre.n_rows, pre.n_rows, keys)


def test_check_keys_hold_every_popular_list_and_a_sample_of_users_and_items():
    pre = make_precomputed(users=500, items=300, k=3, segments=("France", "Germany"))
    keys = publish.check_keys(pre, sample=100)
    assert keys[:3] == [contract.popular_pk(s) for s in ("France", "Germany", "global")]
    assert len(keys) == 103 and len(set(keys)) == 103
    assert sum(k.startswith("user#") for k in keys) == 50
    assert keys == publish.check_keys(pre, sample=100)  # the same keys for a resumed run


def test_write_rows_reports_batches_in_stream_order_and_returns_the_acknowledged_count(dynamodb, table_name):
    publish.check_table(dynamodb, table_name, create=True)
    rows = list(publish.version_rows("v1", make_precomputed(60, 20, 3), expires_at=1))
    seen = []
    written = publish.write_rows(dynamodb, table_name, rows, workers=3, on_batch=seen.append)
    assert written == len(rows) == 60 + 20 + 2
    assert seen == [25, 25, 25, 7]


def test_the_flip_is_refused_when_the_pointer_changes_under_it(dynamodb, table_name, local_aws):
    import boto3

    other = boto3.client("dynamodb", endpoint_url=local_aws.endpoint_url, region_name=local_aws.region)
    run_publish(dynamodb, table_name, "v1", make_precomputed(4, 5, 2, seed=1))

    def someone_else_flips_first(params, **_):
        if params.get("Item", {}).get("pk", {}).get("S") == "meta#pointer":
            other.put_item(TableName=table_name, Item=contract.encode_pointer(contract.Pointer("vX", 2), 1))

    dynamodb.meta.events.register("before-parameter-build.dynamodb.PutItem", someone_else_flips_first)
    try:
        with pytest.raises(PublishError, match=f"pointer of table {table_name} changed while flipping it"):
            publish.flip_pointer(dynamodb, table_name, "v2", 2)
    finally:
        dynamodb.meta.events.unregister("before-parameter-build.dynamodb.PutItem", someone_else_flips_first)
    assert pointer_version(dynamodb, table_name) == "vX"


def test_the_fingerprint_changes_with_the_answers_and_not_otherwise():
    assert publish.fingerprint(make_precomputed(seed=1)) == publish.fingerprint(make_precomputed(seed=1))
    assert publish.fingerprint(make_precomputed(seed=1)) != publish.fingerprint(make_precomputed(seed=2))


def test_version_rows_are_exactly_what_the_contract_encodes_with_padding_dropped():
    pre = make_precomputed(users=6, items=8, k=4, segments=("France", 'Côte "d"'))
    pre.users.ids[2, 2:] = -1  # a user with only 2 candidates left
    rows = list(publish.version_rows("v1", pre, expires_at=7))
    expected = []
    for pks, top in [
        ([contract.user_pk(u) for u in pre.user_ids], pre.users),
        ([contract.item_pk(i) for i in pre.item_ids], pre.similar),
        *(([contract.popular_pk(s)], pre.popular[s]) for s in sorted(pre.popular)),
    ]:
        for n, pk in enumerate(pks):
            idx, scores = top.row(n)
            ranked = contract.RankedItems(tuple(pre.item_ids[idx].tolist()), tuple(scores.tolist()))
            expected.append(contract.encode_row(pk, "v1", ranked, 7))
    assert rows == expected
    assert len(contract.decode_row(rows[2]).item_ids) == 2


def test_a_long_publish_shows_a_progress_bar_with_rows_per_second(dynamodb, table_name, capsys):
    pre = make_precomputed(users=30, items=10, k=3)
    run_publish(dynamodb, table_name, "v1", pre, progress=True)
    err = capsys.readouterr().err
    assert "publish v1: 100%" in err and "rows/s" in err
    run_publish(dynamodb, table_name, "v2", make_precomputed(30, 10, 3, seed=5))  # short: no bar
    assert "publish v2" not in capsys.readouterr().err
