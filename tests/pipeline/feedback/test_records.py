"""Impression records: both shapes read, every bad record named with its rule, the rest kept."""

from __future__ import annotations

import gzip
import json
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.feedback.records import parse_object
from tests.pipeline.feedback.logs import envelope, firehose_object, json_lines, record

NOW = datetime(2026, 12, 8)


def test_concatenated_gzip_envelopes_are_read_and_noise_skipped():
    data = firehose_object(
        [
            envelope([record(1), "START RequestId: 42 Version: $LATEST", '{"level": "INFO"}']),
            envelope([], "CONTROL_MESSAGE"),
        ],
        [envelope([record(2, experiment="e1", arm="treatment", source="fallback")])],
    )
    parsed = parse_object(data, NOW)
    assert [r.rec_id for r in parsed.records] == ["r1", "r2"]
    assert (parsed.skipped, parsed.bad) == (3, [])  # two log lines and the control message
    second = parsed.records[1]
    assert (second.experiment, second.arm, second.source, second.items) == (
        "e1",
        "treatment",
        "fallback",
        ("i1", "i2", "i3"),
    )
    assert second.ts == datetime(2026, 12, 7, 18, 0)


def test_json_lines_gzipped_or_not_give_the_same_records():
    lines = json_lines([record(1), record(2, route="similar", user=None, item_id="i9")])
    assert parse_object(lines, NOW).records == parse_object(gzip.compress(lines), NOW).records
    assert parse_object(lines, NOW).records[1].item_id == "i9"


def test_a_time_with_an_offset_is_converted_to_utc():
    (found,) = parse_object(json_lines([record(1, ts="2026-12-07T20:00:00+02:00")]), NOW).records
    assert found.ts == datetime(2026, 12, 7, 18, 0)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"rec_id": ""}, "rec_id must be a non-empty string, got ''"),
        ({"rec_id": "x" * 3000}, "rec_id has 3000 characters, more than 128"),
        ({"route": "admin"}, "route must be one of user, similar, got 'admin'"),
        ({"arm": "treatment"}, "experiment None and arm 'treatment': both are set or both are null"),
        ({"experiment": "e", "arm": "b"}, "arm must be one of control, treatment or null, got 'b'"),
        ({"user_id": None}, "route 'user' needs its user_id"),
        ({"user_id": "a,b"}, "user_id 'a,b' must be text without control characters or commas"),
        ({"ts": "yesterday"}, "ts 'yesterday' is not ISO-8601"),
        ({"ts": "2031-01-01T00:00:00Z"}, "ts 2031-01-01T00:00:00Z is out of range"),
        ({"ts": 1765130400}, "ts must be an ISO-8601 string, got 1765130400"),
        ({"items": "i1,i2"}, "items must be a list of item ids, got 'i1,i2'"),
        ({"items": ["i1", 7]}, "items[1] 7 must be a string (the id rule)"),
        ({"items": ["i1", "bad\nid"]}, "items[1] 'bad\\nid' must be text without control characters"),
        ({"version": None}, "version must be a non-empty string, got None"),
    ],
)
def test_a_bad_record_is_named_with_its_rule_and_the_others_load(fields, reason):
    parsed = parse_object(json_lines([record(1), record(2, **fields), record(3)]), NOW)
    assert [r.rec_id for r in parsed.records] == ["r1", "r3"]
    (bad,) = parsed.bad
    assert bad.position == 2 and bad.reason.startswith(reason), bad.reason
    assert len(bad.raw) <= 2000


def test_broken_bytes_are_one_bad_object():
    parsed = parse_object(b"\x1f\x8b\x08garbage", NOW)
    assert parsed.records == [] and parsed.bad[0].position == 0
    assert parsed.bad[0].reason.startswith("object is neither gzip nor UTF-8 JSON")


def test_a_broken_line_is_bad_and_the_next_line_still_reads():
    parsed = parse_object(b'{"rec_id": "r0", "ts": \n' + json_lines([record(5)]), NOW)
    assert [r.rec_id for r in parsed.records] == ["r5"]
    assert parsed.bad[0].reason.startswith("not JSON")


def test_ids_with_hash_slash_and_unicode_are_kept_exactly():
    hostile = record(
        1, user="ü#/?[*]", items=["a#1", "b/2", "../c", "ç" * 256], version="20261207T180000Z-3f9a"
    )
    (found,) = parse_object(json_lines([hostile]), NOW).records
    assert (found.user_id, found.items) == ("ü#/?[*]", ("a#1", "b/2", "../c", "ç" * 256))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_without_raising(data):
    parsed = parse_object(data, NOW)
    assert all(bad.reason for bad in parsed.bad)


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=10,
    )
)
def test_any_json_message_is_a_record_a_bad_record_or_skipped(message):
    parsed = parse_object(firehose_object([envelope([json.dumps(message), record(1)])]), NOW)
    assert [r.rec_id for r in parsed.records][-1:] == ["r1"]
    assert len(parsed.records) + len(parsed.bad) + parsed.skipped == 2
