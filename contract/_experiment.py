"""Experiments between live versions: the experiment item and the bucketing of users into arms.

One experiment runs at a time. Its item (``EXPERIMENT_KEY``: ``meta#experiment`` / ``current``)
names two published versions, ``control`` and ``treatment``, and the treatment's share of users.
A user's arm is a pure function of the experiment's salt and the user id (``bucket``), so a user
keeps their arm for the experiment's life, on every container, unknown users included. While
its status is ``running`` the API serves each user the arm's version (``version_of``) and names
the experiment and the arm in the answer and its impression; once ``stopped`` the pointer
answers everyone again. Each experiment is also kept under ``meta#experiment`` / ``run#<name>``
(its history; names are never reused, so impressions of two experiments never share a name).

    attribute     meaning
    ------------  -----------------------------------------------------------------------------
    name          the experiment's name (an id under the id rule)
    control       the version control users are served; control_k: the items its rows hold
    treatment     the version treatment users are served; treatment_k: likewise
    share         the treatment's share of users, in (0, 1)
    salt          mixed into the hash, so that two experiments bucket users independently
    started_at    epoch seconds; ends_at: when it is due to end (null: when stopped by hand)
    stopped_at    epoch seconds (null while running)
    status        running | stopped
    promoted      the arm whose version the pointer was moved to at the stop (null: none)
    kind          "experiment", or "canary" (a publish that went out as the treatment)
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Literal

from contract._ids import id_problem
from contract._impression import Arm
from contract._keys import PARTITION_KEY, SORT_KEY

ExperimentStatus = Literal["running", "stopped"]
ExperimentKind = Literal["experiment", "canary"]
ARMS: tuple[Arm, Arm] = ("control", "treatment")
EXPERIMENT_PK = "meta#experiment"
EXPERIMENT_KEY = {PARTITION_KEY: {"S": EXPERIMENT_PK}, SORT_KEY: {"S": "current"}}
SHARE_RULE = "a number strictly between 0 and 1"


@dataclass(frozen=True, slots=True)
class Experiment:
    """One experiment between two published versions (see the module's table)."""

    name: str
    control: str
    treatment: str
    share: float
    salt: str
    started_at: float
    status: ExperimentStatus = "running"
    control_k: int = 0
    treatment_k: int = 0
    ends_at: float | None = None
    stopped_at: float | None = None
    promoted: Arm | None = None
    kind: ExperimentKind = "experiment"

    def __post_init__(self) -> None:
        problem = experiment_problem(self)
        if problem:
            raise ValueError(problem)

    @property
    def running(self) -> bool:
        return self.status == "running"

    def arm_of(self, user_id: str) -> Arm:
        return arm_of(self.salt, self.share, user_id)

    def version_of(self, arm: Arm) -> str:
        return self.control if arm == "control" else self.treatment

    def k_of(self, arm: Arm) -> int:
        return self.control_k if arm == "control" else self.treatment_k

    @property
    def versions(self) -> tuple[str, str]:
        return (self.control, self.treatment)


def experiment_problem(experiment: Experiment) -> str | None:
    """Why an experiment item cannot be stored or served, or None when it can."""
    named = id_problem(experiment.name)
    if named:
        return f"experiment name {experiment.name[:40]!r} {named}"
    for arm in ARMS:
        version = experiment.version_of(arm)
        if not version:
            return f"experiment {experiment.name}: the {arm} version is empty"
    if not (isinstance(experiment.share, float | int) and 0 < experiment.share < 1):
        return f"experiment {experiment.name}: share must be {SHARE_RULE}, got {experiment.share!r:.40}"
    if not experiment.salt:
        return f"experiment {experiment.name}: the salt is empty"
    if experiment.status not in ("running", "stopped"):
        status = f"{experiment.status!r:.40}"
        return f"experiment {experiment.name}: status must be running or stopped, got {status}"
    return None


def bucket(salt: str, user_id: str) -> float:
    """The user's place in [0, 1) for an experiment's salt: the first 8 bytes of
    SHA-256(salt, NUL, user id) as a fraction of 2**64 (the NUL keeps "a"+"bc" apart from "ab"+"c")."""
    digest = hashlib.sha256(f"{salt}\x00{user_id}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def arm_of(salt: str, share: float, user_id: str) -> Arm:
    """The treatment when the user's bucket falls below ``share``, else the control."""
    return "treatment" if bucket(salt, user_id) < share else "control"


def _optional_number(item: dict, name: str) -> float | None:
    return float(item[name]["N"]) if name in item else None


def encode_experiment(experiment: Experiment, sort_key: str = "current") -> dict:
    """The low-level item under ``meta#experiment`` / ``sort_key`` (``current``, or ``run#<name>``)."""
    item = {
        PARTITION_KEY: {"S": EXPERIMENT_PK},
        SORT_KEY: {"S": sort_key},
        "name": {"S": experiment.name},
        "control": {"S": experiment.control},
        "treatment": {"S": experiment.treatment},
        "control_k": {"N": str(experiment.control_k)},
        "treatment_k": {"N": str(experiment.treatment_k)},
        "share": {"N": repr(float(experiment.share))},
        "salt": {"S": experiment.salt},
        "started_at": {"N": repr(float(experiment.started_at))},  # repr: the float comes back exactly
        "status": {"S": experiment.status},
        "kind": {"S": experiment.kind},
    }
    for name in ("ends_at", "stopped_at"):
        value = getattr(experiment, name)
        if value is not None:
            if not math.isfinite(value):
                raise ValueError(f"experiment {experiment.name}: {name} must be a finite time, got {value}")
            item[name] = {"N": repr(float(value))}
    if experiment.promoted is not None:
        item["promoted"] = {"S": experiment.promoted}
    return item


def decode_experiment(item: dict) -> Experiment:
    """An experiment from its item; ValueError (naming the rule) when the item breaks one."""
    return Experiment(
        name=item["name"]["S"],
        control=item["control"]["S"],
        treatment=item["treatment"]["S"],
        share=float(item["share"]["N"]),
        salt=item["salt"]["S"],
        started_at=float(item["started_at"]["N"]),
        status=item["status"]["S"],
        control_k=int(item.get("control_k", {}).get("N", "0")),
        treatment_k=int(item.get("treatment_k", {}).get("N", "0")),
        ends_at=_optional_number(item, "ends_at"),
        stopped_at=_optional_number(item, "stopped_at"),
        promoted=item.get("promoted", {}).get("S"),
        kind=item.get("kind", {}).get("S", "experiment"),
    )


def run_key(name: str) -> str:
    """The sort key of an experiment's history item."""
    return f"run#{name}"
