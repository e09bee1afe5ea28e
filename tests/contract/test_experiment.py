"""Bucketing users into experiment arms, and the experiment item's rules."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import contract

USERS = [f"user-{n}" for n in range(20_000)]


def test_bucketing_is_a_pure_function_of_salt_and_user():
    assert [contract.bucket("s1", u) for u in USERS[:100]] == [contract.bucket("s1", u) for u in USERS[:100]]
    assert contract.bucket("s1", "12347") == pytest.approx(contract.bucket("s1", "12347"))
    assert all(0 <= contract.bucket("s1", u) < 1 for u in USERS)


@pytest.mark.parametrize("share", [0.05, 0.2, 0.5, 0.9])
def test_the_treatment_gets_its_share_within_a_percent_of_20000_users(share):
    treated = sum(contract.arm_of("salt-a", share, u) == "treatment" for u in USERS)
    assert abs(treated / len(USERS) - share) < 0.01


def test_two_salts_bucket_users_independently():
    first = {u for u in USERS if contract.arm_of("one", 0.5, u) == "treatment"}
    second = {u for u in USERS if contract.arm_of("two", 0.5, u) == "treatment"}
    overlap = len(first & second) / len(USERS)
    assert abs(overlap - 0.25) < 0.015  # independent halves overlap on a quarter


def test_the_salt_and_the_user_are_not_simply_concatenated():
    assert contract.bucket("a", "bc") != contract.bucket("ab", "c")


@given(st.text(min_size=1, max_size=300), st.floats(min_value=0.001, max_value=0.999))
def test_any_user_id_unknown_or_hostile_keeps_one_arm(user_id, share):
    experiment = contract.Experiment("ab", "v1", "v2", share, "salt", 0.0)
    arms = {experiment.arm_of(user_id) for _ in range(3)}
    assert len(arms) == 1
    assert experiment.version_of(arms.pop()) in ("v1", "v2")


def test_a_larger_share_only_moves_users_into_the_treatment():
    small = {u for u in USERS if contract.arm_of("s", 0.1, u) == "treatment"}
    large = {u for u in USERS if contract.arm_of("s", 0.3, u) == "treatment"}
    assert small < large  # ramping a canary up never takes a user out of it


@pytest.mark.parametrize("share", [0, 1, 1.5, -0.1, math.nan, math.inf])
def test_a_share_outside_0_1_is_refused_naming_the_rule(share):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        contract.Experiment("ab", "v1", "v2", share, "salt", 0.0)


@pytest.mark.parametrize(
    ("name", "rule"), [("a,b", "commas"), ("", "is empty"), ("x" * 300, "more than 256")]
)
def test_an_experiment_name_follows_the_id_rule(name, rule):
    with pytest.raises(ValueError, match=rule):
        contract.Experiment(name, "v1", "v2", 0.5, "salt", 0.0)


def test_the_item_round_trips_running_and_stopped():
    running = contract.Experiment(
        "ab/1#ü", "v1", "v2", 0.25, "salt", 1.5, control_k=10, treatment_k=20, ends_at=9.0
    )
    assert contract.decode_experiment(contract.encode_experiment(running)) == running
    stopped = contract.Experiment(
        "ab", "v1", "v2", 0.25, "s", 1.5, "stopped", stopped_at=3.0, promoted="treatment"
    )
    item = contract.encode_experiment(stopped, contract.run_key("ab"))
    assert item["sk"] == {"S": "run#ab"} and contract.decode_experiment(item) == stopped
    assert (running.k_of("control"), running.k_of("treatment"), running.running, stopped.running) == (
        10,
        20,
        True,
        False,
    )


def test_a_broken_item_is_a_clear_error():
    item = contract.encode_experiment(contract.Experiment("ab", "v1", "v2", 0.25, "salt", 1.5))
    item["share"] = {"N": "2"}
    with pytest.raises(ValueError, match="share must be"):
        contract.decode_experiment(item)
