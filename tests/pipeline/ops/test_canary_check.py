"""The canary check end to end: a canary in the real table (moto), its users' impressions and
clicks in a real warehouse, the decision from them, and the pointer moved by it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.data import warehouse
from pipeline.data.ingest import ingest
from pipeline.feedback.impressions import ingest_impressions
from pipeline.ops import canary
from pipeline.publish import experiments, registry
from pipeline.settings import PipelineSettings
from tests.pipeline.feedback.logs import json_lines, put
from tests.pipeline.publish.fixtures import make_precomputed, run_publish

DAY = 86400.0


@pytest.fixture
def table(dynamodb, table_name):
    """v1 then v2 published: v2 is served, v1 goes out as its canary in each test."""
    for seed, version in enumerate(["v1", "v2"]):
        run_publish(dynamodb, table_name, version, make_precomputed(40, 30, 6, seed=seed, segments=()))
    return table_name


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _users_act(con, tmp_path, running, users: int, ctr: dict[str, float]) -> None:
    """``users`` users, each shown 5 answers of their arm after the canary started; each answer's
    first item viewed (with its rec_id) at the arm's rate in ``ctr``, by a fixed pattern over each
    arm's users in turn (arms of equal rates are alike by construction, not alike by chance: the
    experiment's salt is random, so which users land in which arm is too)."""
    imps, events, turn = [], [], {"control": 0, "treatment": 0}
    for u in range(users):
        user = f"user#{u}/é"
        arm = running.arm_of(user)
        j, turn[arm] = turn[arm], turn[arm] + 1
        for n in range(5):
            at = running.started_at + 3600 * (1 + n) + u
            rec_id = f"{user}-{n}"
            imps.append({
                "rec_id": rec_id, "ts": _iso(at), "route": "user", "user_id": user, "item_id": None,
                "version": running.version_of(arm), "experiment": running.name, "arm": arm,
                "source": "personal", "items": ["a", "b", "c"],
            })  # fmt: skip
            if (j * 37 + n * 11) % 100 < ctr[arm] * 100:
                events.append({"user_id": user, "item_id": "a", "event_type": "view", "ts": _iso(at + 60),
                               "rec_id": rec_id})  # fmt: skip
    ingest_impressions(con, [put(tmp_path / "imp.jsonl", json_lines(imps))])
    if events:
        ingest(con, [put(tmp_path / "ev.jsonl", json_lines(events))])


def _canary(dynamodb, table, hours: float, days_ago: float):
    started = time.time() - days_ago * DAY
    experiments.start_canary(dynamodb, table, "v1", 0.5, hours, now=started)
    return registry.current_experiment(dynamodb, table)


def _settings(tmp_path, table) -> PipelineSettings:
    return PipelineSettings(warehouse=tmp_path / "w.duckdb", table_name=table)


def test_a_clearly_worse_canary_is_rolled_back_before_its_horizon(dynamodb, table, tmp_path):
    running = _canary(dynamodb, table, hours=24 * 4, days_ago=2)  # rows live 3 days
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        _users_act(con, tmp_path, running, 300, {"control": 0.5, "treatment": 0.05})
        found = canary.check(dynamodb, table, con, _settings(tmp_path, table))
    assert found.decision is not None and found.decision.action == "rollback"
    assert not found.decision.at_horizon and found.decision.look == 3  # the third day of its life
    assert found.decision.p_worse < 0.001
    after = registry.current_experiment(dynamodb, table)
    assert (after.status, after.promoted) == ("stopped", "control")
    assert registry.current_pointer(dynamodb, table).version == "v2" == found.serving
    assert "rolled back" in found.line(table) and running.name in found.line(table)


def test_a_canary_as_good_as_the_served_version_is_promoted_at_its_horizon(dynamodb, table, tmp_path):
    running = _canary(dynamodb, table, hours=24, days_ago=2)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        _users_act(con, tmp_path, running, 300, {"control": 0.3, "treatment": 0.3})
        found = canary.check(dynamodb, table, con, _settings(tmp_path, table))
    assert found.decision is not None and (found.decision.action, found.decision.at_horizon) == (
        "promote",
        True,
    )
    assert registry.current_experiment(dynamodb, table).promoted == "treatment"
    assert registry.current_pointer(dynamodb, table).version == "v1" == found.serving


def test_too_few_users_leave_the_canary_running(dynamodb, table, tmp_path):
    running = _canary(dynamodb, table, hours=24 * 3, days_ago=1)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        _users_act(con, tmp_path, running, 20, {"control": 0.9, "treatment": 0.0})
        found = canary.check(dynamodb, table, con, _settings(tmp_path, table))
    assert found.decision is not None and found.decision.action == "wait"
    assert "canary_min_users" in found.decision.reason
    assert registry.current_experiment(dynamodb, table).running
    assert registry.current_pointer(dynamodb, table).version == "v2"


def test_nothing_to_check_without_a_running_canary(dynamodb, table, tmp_path):
    experiments.start(dynamodb, table, "v2", "v1", 0.5, "plain-ab", hours=24)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        found = canary.check(dynamodb, table, con, _settings(tmp_path, table))
    assert (found.experiment, found.decision, found.serving) == (None, None, "v2")
    assert registry.current_experiment(dynamodb, table).running  # a plain A/B test is left alone


def test_the_live_experiments_share_reaches_the_sample_ratio_check(dynamodb, table, table_name):
    assert canary.live_shares(dynamodb, table) == {}
    started = experiments.start(dynamodb, table, "v2", "v1", 0.3, "tuned", hours=24)
    assert canary.live_shares(dynamodb, table) == {"tuned": 0.3} == {started.name: started.share}
    assert canary.live_shares(dynamodb, table_name + "-never-made") == {}  # a first run: no table yet


def test_looks_are_days_of_the_canarys_life():
    running = type("E", (), {"name": "c", "started_at": 1000.0, "ends_at": 1000.0 + 2 * DAY})()
    assert canary.look_of(running, 1000.0 + 5) == (1, pytest.approx(5 / (2 * DAY)))
    assert canary.look_of(running, 1000.0 + DAY + 1)[0] == 2
    assert canary.look_of(running, 1000.0 + 3 * DAY)[1] == pytest.approx(1.5)


def test_an_experiment_without_an_end_is_no_canary_to_look_at():
    running = type("E", (), {"name": "open", "started_at": 0.0, "ends_at": None})()
    with pytest.raises(experiments.ExperimentError, match="open has no planned end"):
        canary.look_of(running, 10.0)


def test_the_clock_of_a_look_is_utc():
    assert _iso(0.0) == "1970-01-01T00:00:00.000Z"
    assert datetime.fromtimestamp(DAY, UTC) - datetime(1970, 1, 1, tzinfo=UTC) == timedelta(days=1)
