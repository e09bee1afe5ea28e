"""The nightly Prefect flow. It reads top to bottom as the job and holds no logic: each task calls
one stage function of ``pipeline.data``, ``model``, ``precompute``, ``publish`` or ``ops``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from pipeline import aws, fanout
from pipeline.data import catalog, interactions, quality, splits, validation, warehouse
from pipeline.data.ingest import IngestReport, ingest
from pipeline.data.interactions import Interactions
from pipeline.data.staging import LogShape
from pipeline.feedback import online
from pipeline.model import artifact, churn, evaluate, gate, html_report, report, train, tune
from pipeline.model.artifact import ArtifactMeta
from pipeline.model.examples import report_section
from pipeline.ops import canary, plan
from pipeline.ops.concurrency import one_run_at_a_time
from pipeline.ops.retries import network_task, task_defaults
from pipeline.ops.state import shared_state
from pipeline.precompute import explore, rules
from pipeline.publish import expiry
from pipeline.settings import ALSParams, PipelineSettings, load_settings


@dataclass
class RunSummary:
    model_version: str
    published: bool
    reason: str
    users: int
    items: int
    rows_published: int
    metrics: dict = field(default_factory=dict)
    ingest: dict = field(default_factory=dict)
    data_quality: dict = field(default_factory=dict)
    row_sizes: dict = field(default_factory=dict)  # a sample of the published rows (publish.row_sizes)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Served:
    """The version being served and its artifact's meta (both None before the first publish)."""

    version: str | None
    meta: ArtifactMeta | None


@task(**network_task)
def ingest_events(
    settings: PipelineSettings, events: list[str], optional: Sequence[str] = ()
) -> IngestReport:
    with warehouse.connect(settings.warehouse) as con:
        return ingest(
            con,
            events,
            settings.column_map,
            list(settings.all_event_weights()),
            settings.max_bad_fraction,
            s3_client=lambda: aws.client("s3", settings),
            on_changed_file=settings.on_changed_file,
            optional_sources=optional,
            log_shape=LogShape.from_settings(settings),
        )


@task(**network_task)
def measure_online(settings: PipelineSettings) -> online.FeedbackResult | None:
    """The impression log (``impressions_uri``) loaded and joined with the events: online metrics."""
    if settings.impressions_uri is None:
        return None
    shares = canary.live_shares(aws.client("dynamodb", settings), settings.table_name)
    result = online.nightly_step(settings, lambda: aws.client("s3", settings), shares)
    if result is not None:
        create_table_artifact(key="online-metrics", table=online.table_rows(result), description="Online")
    return result


@task(**network_task)
def check_canary(settings: PipelineSettings) -> canary.CanaryCheck:
    """The running canary judged on its users, then promoted, rolled back or left running."""
    with warehouse.connect(settings.warehouse) as con:
        found = canary.check(aws.client("dynamodb", settings), settings.table_name, con, settings)
    get_run_logger().info("%s", found.line(settings.table_name))
    return found


@task(**network_task)
def load_catalog(settings: PipelineSettings) -> catalog.CatalogReport:
    """The catalog files of the settings, loaded unless their bytes were loaded before."""
    with warehouse.connect(settings.warehouse) as con:
        return catalog.load_catalog(
            con,
            settings.catalog,
            settings.catalog_column_map,
            settings.max_bad_fraction,
            s3_client=lambda: aws.client("s3", settings),
        )


@task(**task_defaults)
def load_interactions(settings: PipelineSettings) -> Interactions:
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        return interactions.load_matrix(con, interactions.InteractionRules.from_settings(settings))


@task(**network_task)
def served_version(settings: PipelineSettings) -> Served:
    """The version being served and its artifact's meta."""
    version = plan.served_version(aws.client("dynamodb", settings), settings.table_name)
    return Served(version, plan.served_model(settings.artifacts_dir, version))


@task(**network_task)
def keep_served_alive(settings: PipelineSettings) -> list[expiry.Extended]:
    """Move the served version's (and its rollback target's) expiry on, whatever this run decides."""
    return expiry.keep_alive(
        aws.client("dynamodb", settings), settings.table_name, settings.artifacts_dir, settings.ttl_days
    )


@task(**network_task)
def plan_run(
    settings: PipelineSettings, ingested: IngestReport, data: Interactions, served: Served, force: bool
) -> plan.RunPlan:
    """Whether to train and publish, given what changed since the served version and whether an
    experiment is running."""
    running = plan.running_experiment(aws.client("dynamodb", settings), settings.table_name)
    return plan.plan_run(
        len(ingested.files_loaded),
        data.fingerprint(),
        settings.als,
        served.version,
        served.meta,
        settings.on_empty_day,
        force,
        running,
    )


@task(**task_defaults)
def summarize_data(settings: PipelineSettings, report: IngestReport, data: Interactions) -> dict:
    """The run's data-quality summary, printed and returned."""
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        summary = quality.quality_summary(con, report.as_dict(), data)
    print(f"data quality:\n{summary.text()}")
    return summary.as_dict()


@task(**task_defaults)
def load_holdout(settings: PipelineSettings) -> splits.Holdout:
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        return splits.holdout(
            con,
            interactions.InteractionRules.from_settings(settings),
            settings.holdout_split,
            settings.holdout_days,
            settings.test_fraction,
            settings.split_seed,
        )


@task(**task_defaults)
def fit_model(data: Interactions, settings: PipelineSettings, params: ALSParams):
    return train.fit(data, params, settings.use_gpu)


@task(**task_defaults)
def refit_model(
    data: Interactions, settings: PipelineSettings, params: ALSParams, start, start_data: Interactions
):
    """The model to serve, fitted on every interaction from the holdout model's factors
    (``warm_start_iterations``; 0: from scratch)."""
    if not settings.warm_start_iterations:
        return train.fit(data, params, settings.use_gpu)
    warm = train.WarmStart(start, start_data.user_ids, start_data.item_ids, settings.warm_start_iterations)
    return train.fit(data, params, settings.use_gpu, warm=warm)


@task(**task_defaults)
def choose_params(train_part: Interactions, settings: PipelineSettings) -> tune.TuningRecord:
    """A parameter search on the training part when one is due, else the last winner reused."""
    last = artifact.last_search(settings.artifacts_dir)
    fold = again = None  # the search's validation split, the holdout's kind (pipeline/data/validation.py)
    if settings.tuning.enabled:
        again = validation.confirm_folds(  # fresh ones for the best trials (random kind only)
            settings.holdout_split, train_part, settings.tuning
        )
        with warehouse.connect(settings.warehouse, read_only=True) as con:
            fold = validation.validation_fold(
                con, interactions.InteractionRules.from_settings(settings), settings.holdout_split,
                train_part, settings.holdout_days, settings.tuning.validation_fraction, settings.tuning.seed,
            )  # fmt: skip
    return tune.choose(
        train_part, settings.tuning, settings.eval_k, settings.als, last, settings.use_gpu, fold=fold,
        confirm_folds=again,
    )  # fmt: skip


@task(**task_defaults)
def evaluate_model(
    model, holdout: splits.Holdout, settings: PipelineSettings, served: Served
) -> evaluate.Evaluation:
    """The candidate vs the baselines and the served version's parameters, on the same holdout."""
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        segments = interactions.user_segments(con, settings.segment_column, holdout.train.user_ids)
    return evaluate.evaluate_candidate(
        model,
        holdout,
        settings.eval_k,
        settings.eval_ks,
        segments,
        served.meta.params if served.meta else None,
        settings.use_gpu,
        settings.eval_max_users,  # a seeded sample of users past it, each metric with its interval
        settings.split_seed,
    )


@task(**task_defaults)
def gate_candidate(
    evaluation: evaluate.Evaluation, settings: PipelineSettings, served: Served, model=None, data=None
) -> gate.GateDecision:
    """The quality gate's decision on the candidate, each check with its figures; with the model
    to serve and its data, its churn against the served version's artifact too."""
    measured = None
    if served.version is not None and served.meta is not None and model is not None and data is not None:
        old = artifact.load(settings.artifacts_dir, served.version)
        measured = churn.against_served(old, model, data, settings.eval_k, settings.gate.churn_users)
    return gate.decide(evaluation, settings, served.version, measured)


@task(**task_defaults)
def save_artifact(
    version: str,
    model,
    data: Interactions,
    settings: PipelineSettings,
    evaluation: evaluate.Evaluation,
    decision: gate.GateDecision,
    tuning: tune.TuningRecord,
) -> Path:
    meta = artifact.describe(
        version,
        tuning=tuning,
        configured=settings.als,
        evaluation=evaluation,
        gate=decision,
        data_fingerprint=data.fingerprint(),
        k=settings.k,
    )
    return artifact.save(artifact.Artifact(model, data.user_ids, data.item_ids, meta), settings.artifacts_dir)


@task(**task_defaults)
def write_report(path: Path, model, data: Interactions, settings: PipelineSettings) -> Path:
    """The run report into the artifact directory, and its key table and text as Prefect artifacts."""
    meta = artifact.load_meta(path.parent, path.name)
    root = settings.artifacts_dir  # the artifacts' home: path is a local copy when they live in S3
    history = artifact.history(root)
    page = report.write_report(path, meta, history, report_section(model, data, settings))
    html_report.write_html(page)  # report.html beside it, and the index over versions
    html_report.write_index(path.parent, [m for m in history if m.version != meta.version] + [meta])
    artifact.push_report(path, root)  # to S3, when the artifacts live there
    create_table_artifact(
        key="nightly-metrics",
        table=report.metric_rows(meta.evaluation),
        description=f"Holdout metrics of {meta.version}: {'passed' if meta.gate.passed else 'REFUSED'}",
    )
    create_markdown_artifact(
        # the plots inlined: Prefect's UI cannot load the artifact directory's files
        key="nightly-report",
        markdown=html_report.embedded(page.read_text(), page.parent),
        description=f"Run {meta.version}",
    )
    return page


@task(**task_defaults)
def catalog_rules(data: Interactions, settings: PipelineSettings) -> rules.ItemRules:
    """Each model item's availability and category in the current catalog."""
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        return rules.item_rules(con, data.item_ids)


@task(**task_defaults)
def load_seen(data: Interactions, settings: PipelineSettings, item_rules: rules.ItemRules):
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        seen = interactions.seen_matrix(con, settings.exclude_items_regex, data, settings.seen_event_types)
    return rules.allow_repeats(seen, item_rules, settings.repeat_purchase_categories)


@task(**task_defaults)
def load_segments(data: Interactions, settings: PipelineSettings) -> pd.Series | None:
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        return interactions.user_segments(con, settings.segment_column, data.user_ids)


@task(**task_defaults)
def load_new_items(data: Interactions, settings: PipelineSettings) -> explore.NewItems:
    """Catalog items new enough to be offered to explore, that the model does not know."""
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        return explore.new_items(con, data.item_ids, settings.new_item_days, settings.exclude_items_regex)


@flow(name="nightly", timeout_seconds=8 * 3600)
@one_run_at_a_time
@shared_state  # the DynamoDB lock, the warehouse restored from S3 and saved back (pipeline/ops/state.py)
def nightly(
    events: list[str],
    config: str | None = None,
    force: bool = False,
    settings: PipelineSettings | None = None,
    run_date: str | None = None,
) -> RunSummary:
    """Ingest new event files, train and measure a model, and publish it if it passes the gate."""
    log = get_run_logger()
    settings = settings or load_settings(config)

    # 1. log: append the new raw events
    files = plan.resolve_events(events, run_date, flow_run.scheduled_start_time)
    ingested = ingest_events(settings, files, plan.dated_sources(events, files))
    log.info("ingest: %s", ingested.as_dict())
    measured = measure_online(settings)  # 1a. feedback: what users did with the served answers
    if settings.catalog:
        log.info("catalog: %s", load_catalog(settings).as_dict())

    # 1b. decide: a model of the data and parameters of the served one is neither made nor published twice
    data = load_interactions(settings)
    served = served_version(settings)
    if measured is not None and served.version is not None:
        check_canary(settings)  # a running canary promoted or rolled back before this run publishes
        served = served_version(settings)
    keep_served_alive(settings)
    decided = plan_run(settings, ingested, data, served, force)
    log.info("plan: %s", decided.reason)
    if not decided.train:
        users, items = data.shape
        kept = served.version or ""
        return RunSummary(kept, False, decided.reason, users, items, 0, ingest=ingested.as_dict())

    # 2. measure: tune on the training part (on schedule, else reuse the last winner), fit on it,
    #    score on the holdout next to the baselines and the served version's parameters, gate
    holdout = load_holdout(settings)
    tuning = choose_params(holdout.train, settings)
    holdout_model = fit_model(holdout.train, settings, tuning.best)
    evaluation = evaluate_model(holdout_model, holdout, settings, served)

    # 3. train the model to serve on every interaction, gate it (its churn against the served lists
    #    needs it), and keep it as a versioned artifact
    data_quality = summarize_data(settings, ingested, data)
    model = refit_model(data, settings, tuning.best, holdout_model, holdout.train)
    decision = gate_candidate(evaluation, settings, served, model, data)
    log.info("quality gate: %s", decision.reason)
    version = artifact.new_version()
    path = save_artifact(version, model, data, settings, evaluation, decision, tuning)
    online.save(path, measured)  # the report's online section reads it
    page = write_report(path, model, data, settings)
    log.info("artifact %s saved to %s, report %s", version, path, page)
    users, items = data.shape
    summary = RunSummary(
        version, False, decision.reason, users, items, 0, evaluation.overall, ingested.as_dict(), data_quality
    )
    if not decision.passed and not force:
        kept = served.version or "nothing"
        summary.reason = f"refused by the quality gate, {kept} keeps serving: {decision.reason}"
        log.warning("not publishing %s: %s", version, summary.reason)
        return summary
    if not decided.publish:
        log.info("not publishing %s: %s", version, decided.reason)
        summary.reason = decided.reason
        return summary

    # 4. precompute every answer and publish it under the new version, then flip the pointer;
    #    users are scored and rows written in shards, on the workers of the settings' task runner
    #    (without unavailable items, k + candidates deep, each item's category on the rows)
    item_rules = catalog_rules(data, settings)
    seen = load_seen(data, settings, item_rules)
    segments = load_segments(data, settings)
    inputs = fanout.Inputs(model, data, seen, segments, item_rules, load_new_items(data, settings))
    published = fanout.on_runner(settings)(version, inputs, evaluation.overall, settings)
    summary.published, summary.rows_published = True, published.rows_written
    summary.row_sizes = asdict(published.row_sizes) if published.row_sizes else {}
    return summary
