"""What a nightly run does, decided before any training.

- what a re-run or an empty day does: a model of the same data and parameters as the one being
  served is neither trained again (``on_empty_day = "skip"``) nor published twice, unless forced;
- which files a run reads: ``{run_date}`` in an event path becomes the run's date;
- which version is served, and its artifact's meta (what the candidate is compared with);
- that nothing is published while an experiment runs: its arms are what users are served, and its
  stop is what moves them (a run still trains, measures and keeps the model as an artifact).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from botocore.exceptions import ClientError

import contract
from pipeline.errors import PipelineError
from pipeline.model import artifact
from pipeline.model.artifact import ArtifactMeta
from pipeline.publish import registry
from pipeline.settings import ALSParams
from pipeline.storage import Location

T = TypeVar("T")


@dataclass(frozen=True)
class RunPlan:
    train: bool
    publish: bool
    reason: str


def served_version(client, table: str) -> str | None:
    """The version the table's pointer names, or None (no table or nothing published yet)."""
    pointer = unless_no_table(registry.current_pointer, client, table)
    return pointer.version if pointer else None


def running_experiment(client, table: str) -> contract.Experiment | None:
    """The experiment running in the table, or None (none runs, or no table yet)."""
    found = unless_no_table(registry.current_experiment, client, table)
    return found if found is not None and found.running else None


def unless_no_table(read: Callable[[Any, str], T | None], client, table: str) -> T | None:
    """``read(client, table)``, or None when the table does not exist yet (a first run)."""
    try:
        return read(client, table)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def served_model(artifacts_dir: Location, version: str | None) -> ArtifactMeta | None:
    """The meta of the served version's artifact, or None if there is none here."""
    if version is None:
        return None
    try:
        return artifact.load_meta(artifacts_dir, version)
    except FileNotFoundError:
        return None


def plan_run(
    new_files: int,
    fingerprint: str,
    params: ALSParams,
    served_version: str | None,
    served: ArtifactMeta | None,
    on_empty_day: str,
    force: bool,
    running: contract.Experiment | None = None,
) -> RunPlan:
    """Train and publish, unless the served model was made from the same data and parameters.

    ``on_empty_day = "retrain"`` still trains and measures such a model (a fresh report), but it is
    not published a second time; ``force`` trains and publishes whatever happens, except while an
    experiment runs (``running``): then the model is trained and kept, never published.
    """
    if running is not None and running.running:
        return RunPlan(
            True,
            False,
            f"{running.kind} {running.name} is running (control {running.control}, treatment "
            f"{running.treatment}): the new model is kept as an artifact, not published; stop the "
            "experiment to publish again (recs experiment stop)",
        )
    if force:
        return RunPlan(True, True, "forced: train and publish")
    if served_version is None:
        return RunPlan(True, True, "no version is served yet")
    if served is None:
        return RunPlan(True, True, f"served version {served_version} has no artifact here to compare with")
    same_data = served.data_fingerprint == fingerprint
    same_params = served.configured_params == params  # before tuning
    if not (same_data and same_params):
        changed = " and ".join(n for n, same in (("data", same_data), ("params", same_params)) if not same)
        return RunPlan(True, True, f"{changed} changed since served version {served_version}")
    why = "no new event files (empty day)" if new_files == 0 else "the new files changed no interaction"
    identical = (
        f"{why}: data fingerprint {fingerprint} and parameters are those of served version "
        f"{served_version}; keep serving it (force to publish anyway)"
    )
    return RunPlan(on_empty_day == "retrain", False, identical)


def resolve_events(events: list[str], run_date: str | None, scheduled: datetime | None = None) -> list[str]:
    """Fill ``{run_date}`` (YYYY-MM-DD) in event paths: the given date, else the day before the
    scheduled start (a 02:00 run reads the day that just ended), else yesterday."""
    if not any("{run_date}" in e for e in events):
        return list(events)
    if run_date is None:
        day = (scheduled.date() if scheduled else date.today()) - timedelta(days=1)
    else:
        try:
            day = date.fromisoformat(run_date)
        except ValueError:
            raise PipelineError(f"run_date must be a date as YYYY-MM-DD, got {run_date!r}") from None
    return [e.replace("{run_date}", day.isoformat()) for e in events]


def dated_sources(events: list[str], resolved: list[str]) -> list[str]:
    """The resolved event paths that came from a ``{run_date}`` template: a day's folder may be missing
    or empty (nothing came that day), which is the empty-day path (``on_empty_day``), not an error."""
    return [path for template, path in zip(events, resolved, strict=True) if "{run_date}" in template]
