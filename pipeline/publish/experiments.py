"""Experiments between live versions: start one, read it, stop it (promoting an arm or not).

Plain functions over a DynamoDB client and a table name; ``recs experiment`` (pipeline/cli/
experiment.py) prints what they return. The item and the bucketing are ``contract``'s
(``contract.Experiment``); the API reads the item with its pointer, so a start or a stop reaches
every warm container within ``pointer_refresh_seconds``.

Refusals change nothing: an unknown, unfinished, retired or expiring version, a share outside
(0, 1), a name already used, a second experiment while one runs. ``guard_pointer_change`` is the
one rule rollback and a pointer publish ask before moving the pointer under a running experiment.

A canary (``start_canary``) is an experiment whose treatment is a freshly published version and
whose control is the served one, due to end ``canary_hours`` later; ``promote`` and
``roll_back`` end it either way (the decision from online metrics is the feedback side's).
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import asdict, dataclass, replace

from botocore.exceptions import ClientError

import contract
from pipeline.errors import PipelineError, PublishError
from pipeline.publish import registry
from pipeline.publish.dynamo import check_table, missing_rows
from pipeline.publish.expiry import MIN_ROLLBACK_HOURS


class ExperimentError(PipelineError):
    """An experiment cannot be started or stopped as asked; nothing was changed."""


@dataclass(frozen=True)
class ExperimentState:
    """What ``recs experiment status`` shows: the experiment item (or none) and the served version."""

    table: str
    serving: str | None
    experiment: contract.Experiment | None
    due: bool  # running and past its ends_at

    def as_dict(self) -> dict:
        return {
            "table": self.table,
            "serving": self.serving,
            "due": self.due,
            "experiment": asdict(self.experiment) if self.experiment else None,
        }

    def line(self) -> str:
        e = self.experiment
        if e is None:
            return f"table {self.table}: no experiment; serving {self.serving}"
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(e.started_at))
        head = f"table {self.table}: {e.kind} {e.name} {e.status} since {when}"
        arms = f"control {e.control} ({1 - e.share:.0%}), treatment {e.treatment} ({e.share:.0%})"
        if e.running:
            due = (
                ""
                if e.ends_at is None
                else f"; due {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(e.ends_at))}"
            )
            return f"{head}: {arms}{due}{' (past due)' if self.due else ''}"
        head = head.replace(" since", ", started")
        return f"{head}: {arms}; promoted {e.promoted or 'nothing'}; serving {self.serving}"


@dataclass(frozen=True)
class CanaryPlan:
    """How a publish goes out as a canary: the share of users it serves and for how long."""

    share: float
    hours: float


@dataclass(frozen=True)
class Stopped:
    experiment: contract.Experiment
    serving: str  # the pointer's version after the stop


def status(client, table: str, now: float | None = None) -> ExperimentState:
    check_table(client, table)
    now = time.time() if now is None else now
    pointer = registry.current_pointer(client, table)
    experiment = registry.current_experiment(client, table)
    due = bool(
        experiment and experiment.running and experiment.ends_at is not None and experiment.ends_at <= now
    )
    return ExperimentState(table, pointer.version if pointer else None, experiment, due)


def start(
    client,
    table: str,
    control: str,
    treatment: str,
    share: float,
    name: str | None = None,
    hours: float | None = None,
    kind: contract.ExperimentKind = "experiment",
    now: float | None = None,
) -> contract.Experiment:
    """Start serving ``treatment`` to ``share`` of users and ``control`` to the rest."""
    check_table(client, table)
    now = time.time() if now is None else now
    _check_share(share)
    if hours is not None and not (math.isfinite(hours) and hours > 0):
        raise ExperimentError(f"an experiment's hours must be a positive number, got {hours!r}")
    name = name or f"{kind}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}"
    problem = contract.id_problem(name)
    if problem:
        raise ExperimentError(f"experiment name {name[:40]!r} {problem}")
    running = registry.current_experiment(client, table)
    if running and running.running:
        raise ExperimentError(
            f"experiment {running.name} is already running in table {table} (control {running.control}, "
            f"treatment {running.treatment}); one runs at a time: stop it first (recs experiment stop)"
        )
    ends_at = now + hours * 3600 if hours is not None else None
    entries = {
        arm: _arm_entry(client, table, arm, v, ends_at or now)
        for arm, v in zip(contract.ARMS, (control, treatment), strict=True)
    }
    experiment = contract.Experiment(
        name=name, control=control, treatment=treatment, share=float(share), salt=uuid.uuid4().hex,
        started_at=now, control_k=entries["control"].k, treatment_k=entries["treatment"].k,
        ends_at=ends_at, kind=kind,
    )  # fmt: skip
    _put_started(client, table, experiment)
    return experiment


def stop(
    client,
    table: str,
    promote: contract.Arm | None = None,
    expected: str | None = None,
    now: float | None = None,
) -> Stopped:
    """End the running experiment; with ``promote``, first point readers at that arm's version.

    ``expected``: the name the caller saw running (a stop of whatever runs now otherwise). The
    pointer moves before the item says stopped: a crash between leaves the experiment running on
    the promoted pointer, and the same stop again finishes it.
    """
    check_table(client, table)
    now = time.time() if now is None else now
    experiment = registry.current_experiment(client, table)
    if experiment is None or not experiment.running:
        raise ExperimentError(f"no experiment is running in table {table}: nothing to stop")
    if expected is not None and experiment.name != expected:
        raise ExperimentError(
            f"experiment {expected} is not the one running in table {table} ({experiment.name})"
        )
    if promote is not None:
        _move_pointer(client, table, experiment.version_of(promote), experiment.k_of(promote), now)
    stopped = replace(experiment, status="stopped", stopped_at=now, promoted=promote)
    _put_stopped(client, table, stopped)
    pointer = registry.current_pointer(client, table)
    return Stopped(stopped, pointer.version if pointer else "")


def promote(client, table: str, expected: str | None = None, now: float | None = None) -> Stopped:
    """End a canary (or any experiment) by serving its treatment to everyone."""
    return stop(client, table, "treatment", expected, now)


def roll_back(client, table: str, expected: str | None = None, now: float | None = None) -> Stopped:
    """End a canary by serving its control to everyone again (the treatment stays published)."""
    return stop(client, table, "control", expected, now)


def start_canary(
    client, table: str, version: str, share: float, hours: float, now: float | None = None
) -> contract.Experiment:
    """Serve a freshly published ``version`` to ``share`` of users against the served one, for ``hours``."""
    pointer = registry.current_pointer(client, table)
    if pointer is None:
        raise ExperimentError(
            f"no version is served from table {table}: a first version cannot go out as a canary"
        )
    if pointer.version == version:
        raise ExperimentError(
            f"version {version} is already served from table {table}: it cannot be its own canary"
        )
    when = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return start(
        client, table, pointer.version, version, share, f"canary-{version}-{when}"[:200], hours, "canary", now
    )


def check_can_publish(client, table: str, version: str, canary: CanaryPlan | None) -> None:
    """Before any row is written: refuse a publish that would have to be refused at its end."""
    if canary is None:
        guard_pointer_change(client, table, f"publishing {version} as the served version")
        return
    _check_share(canary.share)
    running = registry.current_experiment(client, table)
    if running and running.running:
        raise ExperimentError(
            f"publishing {version} as a canary refused: {running.kind} {running.name} is running in table "
            f"{table}; one experiment runs at a time: stop it first (recs experiment stop)"
        )


def guard_pointer_change(client, table: str, action: str) -> None:
    """Refuse ``action`` (a rollback, a pointer publish) while an experiment runs: its users are
    served the arms' versions, and ``recs experiment stop`` returns them to the pointer."""
    experiment = registry.current_experiment(client, table)
    if experiment and experiment.running:
        raise ExperimentError(
            f"{action} refused: {experiment.kind} {experiment.name} is running in table {table} (control "
            f"{experiment.control}, treatment {experiment.treatment}) and a pointer change would alter "
            f"what its stop returns users to; stop it first "
            f"(recs experiment stop [--promote control|treatment])"
        )


# -- the checks and writes ---------------------------------------------------------------------


def _check_share(share: float) -> None:
    if isinstance(share, bool) or not isinstance(share, float | int) or not (0 < share < 1):
        raise ExperimentError(
            f"share must be {contract.SHARE_RULE} (the treatment's share of users), got {share!r}"
        )


def _arm_entry(client, table: str, arm: str, version: str, until: float) -> contract.VersionEntry:
    """The registry entry of an arm's version, if it can be served until ``until``; otherwise why not."""
    entry = registry.registry_entry(client, table, version)
    if entry is None:
        raise ExperimentError(f"{arm} version {version[:80]!r} was never published to table {table}")
    if entry.status != "published":
        raise ExperimentError(
            f"{arm} version {version} of table {table} is {entry.status}: "
            f"only a published version can serve an arm"
        )
    if entry.expires_at <= max(until, time.time() + MIN_ROLLBACK_HOURS * 3600):
        expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(entry.expires_at))
        raise ExperimentError(
            f"the rows of {arm} version {version} in table {table} expire at {expires}, "
            f"before the experiment could end (or within {MIN_ROLLBACK_HOURS} hours); publish it again first"
        )
    return entry


def _put_started(client, table: str, experiment: contract.Experiment) -> None:
    """The current item and the history item in one transaction: only if none runs and the name is new."""
    current = {
        "Put": {
            "TableName": table,
            "Item": contract.encode_experiment(experiment),
            "ConditionExpression": "attribute_not_exists(pk) OR #s <> :running",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":running": {"S": "running"}},
        }
    }
    history = {
        "Put": {
            "TableName": table,
            "Item": contract.encode_experiment(experiment, contract.run_key(experiment.name)),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    try:
        client.transact_write_items(TransactItems=[current, history])
    except ClientError as err:
        if err.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        reasons = [r.get("Code") for r in err.response.get("CancellationReasons", [])]
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            raise ExperimentError(
                f"an experiment named {experiment.name} already ran in table {table}; names are never reused"
            ) from err
        raise ExperimentError(
            f"another experiment started in table {table} while starting {experiment.name}; "
            f"nothing was started"
        ) from err


def _put_stopped(client, table: str, experiment: contract.Experiment) -> None:
    try:
        client.put_item(
            TableName=table,
            Item=contract.encode_experiment(experiment),
            ConditionExpression="#n = :name AND #s = :running",
            ExpressionAttributeNames={"#n": "name", "#s": "status"},
            ExpressionAttributeValues={":name": {"S": experiment.name}, ":running": {"S": "running"}},
        )
    except ClientError as err:
        if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        raise ExperimentError(
            f"experiment {experiment.name} of table {table} was stopped by someone else"
        ) from err
    client.put_item(
        TableName=table, Item=contract.encode_experiment(experiment, contract.run_key(experiment.name))
    )


def _move_pointer(client, table: str, version: str, k: int, now: float) -> None:
    """Point readers at an arm's version, after reading its sampled rows back."""
    entry = _arm_entry(client, table, "promoted", version, now)
    missing = missing_rows(client, table, version, list(entry.check_keys))
    if missing:
        raise ExperimentError(
            f"version {version} of table {table} has lost rows (e.g. {missing[:3]}); nothing changed"
        )
    try:
        registry.flip_pointer(client, table, version, k or entry.k)
    except PublishError as err:
        raise ExperimentError(str(err)) from err
