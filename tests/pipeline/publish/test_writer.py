"""Publishing against the real moto server: versioned rows, verification, the pointer flip, retention."""

from __future__ import annotations

import pytest

import contract
from pipeline.errors import PublishError
from pipeline.publish import dynamo, registry, writer
from tests.pipeline.publish.fixtures import (
    make_precomputed,
    pointer_version,
    run_publish,
    version_rows_in_table,
)


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
    entry = registry.registry_entry(dynamodb, table_name, "v1")
    assert entry.status == "published"
    assert entry.rows == entry.rows_done == pre.n_rows
    assert entry.metrics == {"model": {"ndcg": 0.1}}


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
    statuses = {v: registry.registry_entry(dynamodb, table_name, v).status for v in ("v1", "v2", "v3")}
    assert statuses == {"v1": "retired", "v2": "published", "v3": "published"}


def test_re_running_a_published_version_writes_nothing_and_does_not_flip(dynamodb, table_name):
    pre = make_precomputed(5, 6, 3)
    run_publish(dynamodb, table_name, "v1", pre)
    run_publish(dynamodb, table_name, "v2", make_precomputed(5, 6, 3, seed=9))
    again = run_publish(dynamodb, table_name, "v1", pre)
    assert (again.rows_written, again.flipped) == (0, False)
    assert pointer_version(dynamodb, table_name) == "v2"


def test_a_count_that_does_not_match_refuses_the_flip(dynamodb, table_name):
    with pytest.raises(PublishError, match=f"table {table_name} acknowledged 9 rows but the version has 10"):
        writer.verify_version(dynamodb, table_name, "v1", written=9, expected=10, pks=[])


def test_a_sampled_row_that_cannot_be_read_back_refuses_the_flip(dynamodb, table_name):
    pre = make_precomputed(6, 5, 3)
    dynamo.check_table(dynamodb, table_name, create=True)
    rows = list(writer.version_rows("v1", pre, expires_at=1))
    lost = rows.pop(0)["pk"]["S"]
    assert dynamo.write_rows(dynamodb, table_name, rows) == pre.n_rows - 1
    keys = writer.check_keys(pre)
    assert lost in keys  # 6 users, sample of 200: every user is sampled
    with pytest.raises(PublishError, match=rf"1 of {len(keys)} sampled rows cannot be read back.*{lost}"):
        writer.verify_version(dynamodb, table_name, "v1", pre.n_rows, pre.n_rows, keys)


def test_check_keys_hold_every_popular_list_and_a_sample_of_users_and_items():
    pre = make_precomputed(users=500, items=300, k=3, segments=("France", "Germany"))
    keys = writer.check_keys(pre, sample=100)
    assert keys[:3] == [contract.popular_pk(s) for s in ("France", "Germany", "global")]
    assert len(keys) == 103 and len(set(keys)) == 103
    assert sum(k.startswith("user#") for k in keys) == 50
    assert keys == writer.check_keys(pre, sample=100)  # the same keys for a resumed run


def test_the_fingerprint_changes_with_the_answers_and_not_otherwise():
    assert writer.rows_digest(make_precomputed(seed=1)) == writer.rows_digest(make_precomputed(seed=1))
    assert writer.rows_digest(make_precomputed(seed=1)) != writer.rows_digest(make_precomputed(seed=2))


def test_version_rows_are_exactly_what_the_contract_encodes_with_padding_dropped():
    pre = make_precomputed(users=6, items=8, k=4, segments=("France", 'Côte "d"'))
    pre.users.ids[2, 2:] = -1  # a user with only 2 candidates left
    rows = list(writer.version_rows("v1", pre, expires_at=7))
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
