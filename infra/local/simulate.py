"""``recs replay --simulate DAYS``: the whole loop on simulated users, on the local AWS.

    recs replay --simulate 3                       # an A/B experiment: a weak model against a good one
    recs replay --simulate 3 --scenario canary     # a weak model goes out as a canary
    recs replay --simulate 3 --json                # the days and the verdict as one JSON line

What runs is what runs in production, from the template's stack on: a latent-taste history
(``synthetic.SyntheticSpec`` with ``latent_dim``) lands in the stack's bucket under ``raw/``, the
real nightly flow publishes to the stack's table, the real API (uvicorn) answers over HTTP and
logs every answer through the log group, Firehose and the bucket. Then, each simulated day:

1. every simulated user asks the API for their list (``/v1/users/{id}/recommendations``);
2. they answer what they were shown from their true affinity (``simulator.Population``): views
   and purchases that carry the answer's ``rec_id``, written as the day's raw JSON-lines log;
3. the nightly ingests that log and the impression log, measures every version and arm, judges a
   running canary (rolled back or promoted), trains, and publishes unless an experiment runs.

Two scenarios set up the versions before the first day:

- ``experiment``: a weak model (``worse``: one factor, close to the popular list) is published,
  then a good one (``better``); an A/B experiment serves the weak one to control and the good one
  to ``share`` of users. After the last day the experiment is stopped and its winner, if any,
  promoted; the good model should win, with significance.
- ``canary``: the good model is served, then the weak one is published as a canary on ``share``
  of users (``publish_as = "canary"``, forced past the offline gate as a model with a hidden flaw
  would be). The nightly should roll it back on the evidence of its users.

Time is the machine's: a simulated day is one round of requests and one nightly run, minutes
apart. A canary therefore never reaches its 24-hour horizon in a simulation: it is judged at its
first look (the interim rule, one-sided p < ``canary_interim_alpha``), which only strong evidence
passes, as a clearly worse model gives.

Besides the pipeline's own measurement (the nightly's join of impressions and events), the
simulation keeps its own tally of what it showed and how users answered (``ArmTally``), so the two
can be compared: the join must find every answer and every clicked answer the users made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import httpx

import contract
from infra.local import synthetic
from infra.local.aws import LocalAWS, environment
from infra.local.demo import serve_api
from infra.local.impressions import wait_for_impressions
from infra.local.replay import RAW_PREFIX, impression_environment, land, local_stack, replay_settings
from infra.local.simulator import Population, Shown, SimEvent, write_events
from infra.local.workdir import fresh_workdir
from pipeline import aws
from pipeline.data import warehouse
from pipeline.errors import PipelineError
from pipeline.feedback import online, stats
from pipeline.flow import nightly
from pipeline.publish import experiments
from pipeline.settings import ALSParams, PipelineSettings, TuningSettings

Scenario = Literal["experiment", "canary"]
SCENARIOS: tuple[Scenario, ...] = ("experiment", "canary")
NO_ARM = "none"  # the tally's key for answers outside any experiment


class SimulationError(PipelineError):
    """The simulation cannot run as asked; the message names the setting and the rule."""


@dataclass(frozen=True)
class Simulation:
    """What to simulate: the population, the two models and the experiment between them."""

    days: int
    scenario: Scenario = "experiment"
    users: int = 1_000
    items: int = 300
    history_events: int = 30_000
    history_days: int = 14
    latent_dim: int = 8
    k: int = 10
    share: float = 0.5  # the treatment's (the canary's) share of users
    seed: int = 0
    better: ALSParams = field(default_factory=lambda: ALSParams(factors=16, iterations=10))
    worse: ALSParams = field(default_factory=lambda: ALSParams(factors=1, iterations=3))  # ~ the popular list

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be {rule}, got {value!r}"
            for name, value, rule, ok in (
                ("days", self.days, "1 to 60", 1 <= self.days <= 60),
                ("scenario", self.scenario, " or ".join(SCENARIOS), self.scenario in SCENARIOS),
                ("users", self.users, "50 to 100,000", 50 <= self.users <= 100_000),
                ("items", self.items, "20 to 100,000", 20 <= self.items <= 100_000),
                ("share", self.share, contract.SHARE_RULE, 0 < self.share < 1),
                ("k", self.k, "1 to 50", 1 <= self.k <= 50),
            )
            if not ok
        ]
        if problems:
            raise SimulationError("simulation: " + "; ".join(problems))

    @property
    def history(self) -> synthetic.SyntheticSpec:
        """The latent-taste log before the first simulated day, ending at today's midnight (UTC)."""
        today = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
        return synthetic.SyntheticSpec(
            events=self.history_events,
            users=self.users,
            items=self.items,
            days=self.history_days,
            latent_dim=self.latent_dim,
            seed=self.seed,
            start=today - timedelta(days=self.history_days),
        )


@dataclass
class ArmTally:
    """What the simulation itself saw of one arm: answers, answers with a view, with a purchase."""

    answers: int = 0
    clicked: int = 0
    converted: int = 0
    users: set[str] = field(default_factory=set)

    def add(self, user_id: str, events: list[SimEvent]) -> None:
        self.answers += 1
        self.clicked += any(e.event_type == "view" for e in events)
        self.converted += any(e.event_type == "purchase" for e in events)
        self.users.add(user_id)

    def merge(self, other: ArmTally) -> None:
        self.answers += other.answers
        self.clicked += other.clicked
        self.converted += other.converted
        self.users |= other.users

    @property
    def ctr(self) -> float:
        return self.clicked / self.answers if self.answers else 0.0

    def as_dict(self) -> dict:
        return {
            "answers": self.answers,
            "clicked": self.clicked,
            "converted": self.converted,
            "users": len(self.users),
            "ctr": round(self.ctr, 4),
        }


@dataclass(frozen=True)
class SimDay:
    day: int
    arms: dict[str, ArmTally]  # by the arm the API named (NO_ARM outside an experiment)
    errors: int  # answers that were not 200
    nightly: str  # the nightly's reason
    published: bool
    serving: str | None
    experiment: str | None  # how the experiment stands after the nightly (``state_of``)

    def line(self) -> str:
        arms = ", ".join(f"{arm} {t.answers} answers ctr {t.ctr:.3f}" for arm, t in sorted(self.arms.items()))
        run = "published" if self.published else "kept (not published)"
        where = self.experiment or "no experiment"
        return f"day {self.day:>2}: {arms} | {where} | nightly {run}, serving {self.serving}"

    def as_dict(self) -> dict:
        return asdict(self) | {"arms": {arm: t.as_dict() for arm, t in self.arms.items()}}


@dataclass(frozen=True)
class SimulationResult:
    scenario: Scenario
    experiment: contract.Experiment  # as it stands at the end
    better_arm: str  # which arm serves the good model: what the experiment should find
    days: list[SimDay]
    report: stats.ExperimentReport | None  # the pipeline's verdict on the experiment's users
    totals: dict[str, ArmTally]  # the simulation's own tally over the experiment's days
    measured: dict[str, dict]  # the pipeline's impressions and clicks per arm, for the same answers
    serving: str | None

    @property
    def outcome(self) -> str:
        return state_of(self.experiment)

    def as_dict(self) -> dict:
        return {
            "scenario": self.scenario,
            "experiment": asdict(self.experiment),
            "better_arm": self.better_arm,
            "outcome": self.outcome,
            "serving": self.serving,
            "winner": self.report.winner if self.report else None,
            "report": self.report.as_dict() if self.report else None,
            "simulated": {arm: t.as_dict() for arm, t in self.totals.items()},
            "measured": self.measured,
            "days": [d.as_dict() for d in self.days],
        }

    def text(self) -> str:
        """The verdict (the days were shown as they ran)."""
        lines = []
        if self.report is not None:
            primary = next(c for c in self.report.comparisons if c.metric == self.report.primary)
            lines.append(
                f"{self.experiment.name}: {primary.metric} control {primary.control.value:.4f}, treatment "
                f"{primary.treatment.value:.4f}, lift {primary.lift:+.1%}, p={primary.p_value:.2g}, "
                f"winner {self.report.winner or 'none'} (the good model is the {self.better_arm})"
            )
        lines.append(f"outcome: {self.outcome}; serving {self.serving}")
        return "\n".join(lines)


def state_of(e: contract.Experiment) -> str:
    """How an experiment stands, in words: running, or how it ended."""
    if e.running:
        return f"{e.kind} {e.name} running"
    if e.kind == "canary":
        ended = {"control": "rolled back", "treatment": "promoted", None: "stopped"}[e.promoted]
    else:
        ended = {"control": "control kept", "treatment": "treatment promoted", None: "no winner"}[e.promoted]
    return f"{e.kind} {e.name} {ended}"


def run_simulation(
    sim: Simulation, workdir: Path, echo: Callable[[str], None] = print, config: str | None = None
) -> SimulationResult:
    """The whole simulation on a fresh local AWS, leaving nothing running."""
    with fresh_workdir(workdir), LocalAWS() as local, environment(local.environment()):
        outputs = local_stack(local, "recs-sim", echo)
        base = replay_settings(config, workdir, local.endpoint_url, outputs.table_name)
        settings = simulation_settings(base, sim, outputs.bucket_name)
        api_env = {
            **local.environment(),
            **impression_environment(outputs),
            "RECS_TABLE_NAME": outputs.table_name,
            "RECS_POINTER_REFRESH_SECONDS": "0.5",  # a stop or a rollback reaches the API at once
            "RECS_IMPRESSIONS_FLUSH_SECONDS": "0.2",
            "RECS_DYNAMODB_READ_TIMEOUT": "10",  # moto, not DynamoDB, answers the reads
        }
        lander = Lander(settings, outputs.bucket_name, workdir / "raw")
        lander.history(sim.history)
        started = set_up(sim, settings, lander, echo)
        population = Population.of(sim.history, seed=sim.seed + 1)
        with serve_api(api_env) as base_url, httpx.Client(base_url=base_url, timeout=30) as http:
            days = []
            for day in range(1, sim.days + 1):
                arms, errors, events = ask_and_answer(http, population, sim.k)
                lander.day(day, events, sum(t.answers for t in arms.values()))
                days.append(nightly_day(day, arms, errors, settings, lander.raw))
                echo(days[-1].line())
        return conclude(sim, settings, started, days)


def simulation_settings(base: PipelineSettings, sim: Simulation, bucket: str) -> PipelineSettings:
    """The nightly's settings in a simulation: the good model's parameters, no search (the models
    are fixed by the scenario), a holdout of the history's last days, the impression log read."""
    return base.model_copy(
        update={
            "als": sim.better,
            "tuning": TuningSettings(enabled=False),
            "holdout_days": max(1, sim.history_days // 5),
            "k": sim.k,
            "candidates": 5,
            "impressions_uri": f"s3://{bucket}/{contract.IMPRESSIONS_PREFIX}",
            "catalog": [],
        }
    )


class Lander:
    """Puts raw logs where production receives them (the bucket's ``raw/``) and remembers how many
    answers the impression log should hold before a nightly reads it."""

    def __init__(self, settings: PipelineSettings, bucket: str, folder: Path) -> None:
        self.settings, self.bucket, self.folder = settings, bucket, folder
        self.answers = 0

    @property
    def raw(self) -> str:
        return f"s3://{self.bucket}/{RAW_PREFIX}"

    def history(self, spec: synthetic.SyntheticSpec) -> None:
        land(synthetic.write_daily(spec, self.folder), self.settings, self.bucket)

    def day(self, day: int, events: list[SimEvent], answers: int) -> None:
        land(
            [write_events(events, self.folder / f"simulated-day-{day:02d}.jsonl")], self.settings, self.bucket
        )
        self.answers += answers
        found = wait_for_impressions(aws.client("s3", self.settings), self.bucket, self.answers, seconds=60)
        if found < self.answers:
            raise SimulationError(
                f"day {day}: {found} of {self.answers} answers reached s3://{self.bucket}/"
                f"{contract.IMPRESSIONS_PREFIX} within 60 s; the impression path lost some"
            )


def set_up(sim: Simulation, settings: PipelineSettings, lander: Lander, echo) -> contract.Experiment:
    """The two versions of the scenario published, and the experiment (or canary) between them started."""
    client = aws.client("dynamodb", settings)
    table = settings.table_name
    first, second = (sim.worse, sim.better) if sim.scenario == "experiment" else (sim.better, sim.worse)
    one = nightly(events=[lander.raw], settings=settings.model_copy(update={"als": first}), force=True)
    if sim.scenario == "experiment":
        two = nightly(events=[lander.raw], settings=settings.model_copy(update={"als": second}), force=True)
        started = experiments.start(client, table, one.model_version, two.model_version, sim.share, "sim-ab")
    else:
        canary = {"als": second, "publish_as": "canary", "canary_share": sim.share}
        two = nightly(events=[lander.raw], settings=settings.model_copy(update=canary), force=True)
        found = experiments.status(client, table).experiment
        if found is None:
            raise SimulationError(f"the canary did not start: {two.reason}")
        started = found
    if not started.running or started.treatment != two.model_version:
        raise SimulationError(f"the {sim.scenario} did not start: {two.reason}")
    echo(
        f"{started.kind} {started.name}: control {started.control} ({arm_model(sim, 'control')}), "
        f"treatment {started.treatment} ({arm_model(sim, 'treatment')}) on {started.share:.0%} of users"
    )
    return started


def arm_model(sim: Simulation, arm: str) -> str:
    better = better_arm(sim)
    return "the good model" if arm == better else "the weak model"


def better_arm(sim: Simulation) -> str:
    return "treatment" if sim.scenario == "experiment" else "control"


def ask_and_answer(
    http: httpx.Client, population: Population, k: int
) -> tuple[dict[str, ArmTally], int, list[SimEvent]]:
    """Every simulated user asks for their list once and answers it; (tally by arm, errors, events)."""
    arms: dict[str, ArmTally] = {}
    events: list[SimEvent] = []
    errors = 0
    for user in population.user_ids:
        response = http.get(f"/v1/users/{quote(user, safe='')}/recommendations", params={"k": k})
        if response.status_code != 200:
            errors += 1
            continue
        body = response.json()
        at = datetime.now(UTC).replace(tzinfo=None)
        answer = population.answer(Shown(user, [i["item_id"] for i in body["items"]], at, body["rec_id"]))
        arms.setdefault(body["arm"] or NO_ARM, ArmTally()).add(user, answer)
        events += answer
    return arms, errors, sorted(events, key=lambda e: e.ts)


def nightly_day(
    day: int, arms: dict[str, ArmTally], errors: int, settings: PipelineSettings, raw: str
) -> SimDay:
    """The day's nightly run (ingest, feedback, the canary's judgement, train, publish)."""
    summary = nightly(events=[raw], settings=settings)
    state = experiments.status(aws.client("dynamodb", settings), settings.table_name)
    where = state_of(state.experiment) if state.experiment else None
    return SimDay(day, arms, errors, summary.reason, summary.published, state.serving, where)


def conclude(
    sim: Simulation, settings: PipelineSettings, started: contract.Experiment, days: list[SimDay]
) -> SimulationResult:
    """The pipeline's verdict on the experiment's users, the experiment stopped (its winner
    promoted) when it still runs, and the simulation's own tally beside the pipeline's."""
    client = aws.client("dynamodb", settings)
    since = datetime.fromtimestamp(started.started_at, UTC).replace(tzinfo=None)
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        result = online.measure(con, settings, since, {started.name: started.share})
    report = next((r for r in result.experiments if r.experiment == started.name), None)
    state = experiments.status(client, settings.table_name)
    final, serving = state.experiment or started, state.serving
    if final.running and final.name == started.name:
        winner = report.winner if report else None
        stopped = experiments.stop(client, settings.table_name, winner, started.name)
        final, serving = stopped.experiment, stopped.serving
    totals: dict[str, ArmTally] = {}
    for d in days:
        for arm, tally in d.arms.items():
            totals.setdefault(arm, ArmTally()).merge(tally)
    measured = {
        g.key["arm"] or NO_ARM: {"impressions": g.impressions, "users": g.users, "ctr": round(g.ctr.value, 4)}
        for g in result.metrics.groups
        if g.grouping == ("experiment", "arm")
    }
    return SimulationResult(sim.scenario, final, better_arm(sim), days, report, totals, measured, serving)
