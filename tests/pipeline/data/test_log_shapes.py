"""Logs as they come (issue #16, item 1): no event type, a rating as weight, epoch times in
seconds or milliseconds, and hostile values quarantined with the rule they broke."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipeline.data.ingest import IngestError, ingest
from pipeline.data.interactions import InteractionRules
from pipeline.data.staging import LogShape
from pipeline.settings import PipelineSettings
from tests.pipeline.data.logs import weights_of

EPOCH = 1_700_000_000  # 2023-11-14 22:13:20 UTC
RULES = InteractionRules.from_settings(PipelineSettings())


def plain_log(ts: list, **columns: list) -> pd.DataFrame:
    n = len(ts)
    return pd.DataFrame(
        {
            "user_id": [f"u{i % 2}" for i in range(n)],
            "item_id": [f"i{i % 3}" for i in range(n)],
            "timestamp": ts,
        }
        | columns
    )


def csv_of(frame: pd.DataFrame, path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def loaded(con) -> list[tuple]:
    return con.execute(
        "SELECT user_id, item_id, event_type, ts, weight FROM raw_events ORDER BY source_row"
    ).fetchall()


def quarantined(con) -> list[tuple]:
    return con.execute("SELECT source_row, reason FROM quarantine ORDER BY source_row").fetchall()


def test_three_columns_in_epoch_seconds_and_milliseconds_give_the_same_interactions(tmp_path, con):
    from pipeline.data import warehouse

    seconds = [EPOCH + 3600 * i for i in range(8)]
    ingest(con, [csv_of(plain_log(seconds), tmp_path / "s.csv")], known_event_types=["view"])
    with warehouse.connect(tmp_path / "ms.duckdb") as con_ms:
        millis = [s * 1000 + 250 * (i % 2) for i, s in enumerate(seconds)]  # ms precision kept
        ingest(con_ms, [csv_of(plain_log(millis), tmp_path / "ms.csv")], known_event_types=["view"])
        assert weights_of(con, RULES) == weights_of(con_ms, RULES) != {}
        times_ms = [r[3] for r in loaded(con_ms)]
    rows = loaded(con)
    assert {r[2] for r in rows} == {"interaction"} and {r[4] for r in rows} == {None}
    assert str(rows[0][3]) == "2023-11-14 22:13:20"
    assert [str(t) for t in times_ms[:2]] == ["2023-11-14 22:13:20", "2023-11-14 23:13:20.250000"]
    assert weights_of(con, RULES)[("u0", "i0")] == 2.0  # rows 0 and 6: one weight each
    # the interactions from a numeric Parquet column are the same again
    with warehouse.connect(tmp_path / "pq.duckdb") as con_pq:
        path = tmp_path / "s.parquet"
        plain_log(seconds).to_parquet(path, index=False)
        ingest(con_pq, [path])
        assert weights_of(con_pq, RULES) == weights_of(con, RULES)


def test_a_rating_column_is_the_weight(tmp_path, con):
    frame = plain_log([EPOCH] * 4, rating=[5, 1, 3.5, 2])
    frame["item_id"] = ["a", "b", "c", "a"]
    frame["user_id"] = ["u", "u", "u", "v"]
    ingest(con, [csv_of(frame, tmp_path / "ratings.csv")])
    assert weights_of(con, RULES) == {("u", "a"): 5.0, ("u", "b"): 1.0, ("u", "c"): 3.5, ("v", "a"): 2.0}
    # and it multiplies the event type's weight when the log has both
    rules = InteractionRules({"interaction": 2.0})
    assert weights_of(con, rules)[("u", "c")] == 7.0


def test_the_default_event_type_and_its_weight_come_from_settings(tmp_path, con):
    settings = PipelineSettings(default_event_type="play", event_weights={"play": 0.5, "view": 1.0})
    ingest(con, [csv_of(plain_log([EPOCH, EPOCH + 1]), tmp_path / "a.csv")], known_event_types=["view"],
           log_shape=LogShape.from_settings(settings))  # fmt: skip
    assert {r[2] for r in loaded(con)} == {"play"}
    assert weights_of(con, InteractionRules.from_settings(settings)) == {("u0", "i0"): 0.5, ("u1", "i1"): 0.5}


def test_the_unit_setting_overrides_the_magnitude(tmp_path, con):
    path = csv_of(plain_log([EPOCH * 1000, 86_400_000]), tmp_path / "a.csv")
    ingest(con, [path], log_shape=LogShape(ts_unit="ms"), max_bad_fraction=1.0)
    assert [str(r[3]) for r in loaded(con)] == ["2023-11-14 22:13:20"]
    assert quarantined(con) == [(2, "ts out of range")]  # 86,400,000 ms is 1970-01-02


def test_time_strings_with_offsets_are_utc_and_mix_with_epoch_numbers(tmp_path, con):
    ts = ["2023-11-14T23:13:20+01:00", "2023-11-14 22:13:20Z", str(EPOCH), str(EPOCH * 1000)]
    ingest(con, [csv_of(plain_log(ts), tmp_path / "a.csv")])
    assert {str(r[3]) for r in loaded(con)} == {"2023-11-14 22:13:20"}


def test_hostile_times_and_weights_are_quarantined_with_their_reason(tmp_path, con):
    ts = [str(EPOCH), "NaN", "-5", "1e300", "inf", "yesterday", str(EPOCH), str(EPOCH), str(EPOCH),
          str(EPOCH), str(EPOCH)]  # fmt: skip
    weight = ["4", "1", "1", "1", "1", "1", "nan", "-2", "1e12", "lots", ""]
    path = csv_of(plain_log(ts, weight=weight), tmp_path / "hostile.csv")
    report = ingest(con, [path], max_bad_fraction=1.0)
    assert quarantined(con) == [
        (2, "missing or unparseable ts"),
        (3, "ts out of range"),
        (4, "ts out of range"),
        (5, "missing or unparseable ts"),
        (6, "missing or unparseable ts"),
        (7, "weight not finite"),
        (8, "negative weight"),
        (9, "absurd weight"),
        (10, "unparseable weight"),
    ]
    assert [(r[4]) for r in loaded(con)] == [4.0, None]  # an empty weight is no weight: 1
    assert report.rows_loaded == 2 and report.quarantine_reasons["ts out of range"] == 2
    raw = json.loads(con.execute("SELECT raw FROM quarantine WHERE source_row = 10").fetchone()[0])
    assert raw["weight"] == "lots"


def test_a_truly_missing_column_names_the_file_and_the_columns_found(tmp_path, con):
    path = csv_of(pd.DataFrame({"user_id": ["u"], "item_id": ["i"], "when": [EPOCH]}), tmp_path / "a[1].csv")
    with pytest.raises(IngestError) as err:
        ingest(con, [tmp_path / "a[1].csv"])
    assert str(err.value) == f"{path}: missing required column(s) ts (found: user_id, item_id, when)"
