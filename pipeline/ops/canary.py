"""The canary check: the running canary judged on what its users did, then promoted, rolled back or
left to run.

The two halves live elsewhere: ``pipeline.feedback`` measures the arms from the impression log
joined with the events and decides (``canary.canary_decision``: Haybittle-Peto, so repeated looks
roll back a canary that is no worse at most ``online_test.alpha`` of the time);
``pipeline.publish.experiments`` moves the pointer. This module only joins them, for ``recs
experiment check`` and the nightly.

A look is a day of the canary's life: the first day is look 1, the second look 2, and so on, so
``canary_max_looks`` counts days and the alpha bound holds for one check a day (the nightly's).
Checking more often tests the same look again on more data, which that bound does not cover. A
look before the horizon rolls back only on strong evidence; the look at or past the horizon
promotes unless the canary is worse.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

import contract
from pipeline.feedback import canary, metrics, stats
from pipeline.ops import plan
from pipeline.publish import experiments, registry
from pipeline.settings import PipelineSettings

DAY = 86400.0


@dataclass(frozen=True)
class CanaryCheck:
    """What a check found and did: the canary (None when none runs), the decision, the served version."""

    experiment: contract.Experiment | None
    decision: canary.CanaryDecision | None
    serving: str | None

    def line(self, table: str) -> str:
        if self.experiment is None or self.decision is None:
            return f"table {table}: no canary is running; serving {self.serving}"
        verb = {"promote": "promoted", "rollback": "rolled back", "wait": "left running"}
        return (
            f"table {table}: canary {self.experiment.name} ({self.experiment.treatment}) "
            f"{verb[self.decision.action]}: {self.decision.reason}; serving {self.serving}"
        )

    def as_dict(self) -> dict:
        return {
            "experiment": self.experiment.name if self.experiment else None,
            "treatment": self.experiment.treatment if self.experiment else None,
            "decision": self.decision.as_dict() if self.decision else None,
            "serving": self.serving,
        }


def look_of(experiment: contract.Experiment, now: float) -> tuple[int, float]:
    """(look number, share of the canary's time gone): one look per day since it started."""
    if experiment.ends_at is None:
        raise experiments.ExperimentError(
            f"experiment {experiment.name} has no planned end: only a canary (with canary_hours) is checked"
        )
    gone = max(now - experiment.started_at, 0.0)
    look = int(math.floor(gone / DAY)) + 1
    return look, gone / max(experiment.ends_at - experiment.started_at, 1e-9)


def decide(
    con: duckdb.DuckDBPyConnection, experiment: contract.Experiment, settings: PipelineSettings, now: float
) -> canary.CanaryDecision:
    """The decision for ``experiment`` from the warehouse's impressions and events since it started."""
    since = datetime.fromtimestamp(experiment.started_at, UTC).replace(tzinfo=None)
    _, units = metrics.online_metrics(con, since, settings.attribution_hours)
    arms = stats.arm_samples(units, experiment.name, settings.online_test.metric)
    look, elapsed = look_of(experiment, now)
    return canary.canary_decision(arms["control"], arms["treatment"], elapsed, look, settings.online_test)


def live_shares(client, table: str) -> dict[str, float]:
    """The treatment share of the table's current (or last) experiment, by name, for the feedback's
    sample-ratio check; empty when there is none, or no table yet (a first run)."""
    found = plan.unless_no_table(registry.current_experiment, client, table)
    return {found.name: found.share} if found else {}


def check(
    client, table: str, con: duckdb.DuckDBPyConnection, settings: PipelineSettings, now: float | None = None
) -> CanaryCheck:
    """Judge the running canary of ``table`` and act on the decision; nothing when none runs."""
    now = time.time() if now is None else now
    state = experiments.status(client, table, now)
    running = state.experiment
    if running is None or not running.running or running.kind != "canary":
        return CanaryCheck(None, None, state.serving)
    decision = decide(con, running, settings, now)
    if decision.action == "promote":
        return CanaryCheck(running, decision, experiments.promote(client, table, running.name, now).serving)
    if decision.action == "rollback":
        return CanaryCheck(running, decision, experiments.roll_back(client, table, running.name, now).serving)
    return CanaryCheck(running, decision, state.serving)
