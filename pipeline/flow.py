"""The nightly Prefect flow. It reads top to bottom as the pipeline and holds no logic:
each task calls one stage function."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff

from pipeline import (
    artifact,
    aws,
    evaluate,
    interactions,
    operations,
    publish,
    recommend,
    report,
    shard,
    train,
    tune,
    warehouse,
)
from pipeline.ingest import IngestReport, ingest
from pipeline.interactions import Interactions
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

    def as_dict(self) -> dict:
        return asdict(self)


task_defaults = {
    "cache_policy": NO_CACHE,
    "log_prints": True,
    "timeout_seconds": operations.COMPUTE_TIMEOUT_SECONDS,
    "on_failure": [operations.report_failed_stage],
}
# only I/O stages (S3, DynamoDB) retry, with exponential backoff, and only on transient errors
network_task = task_defaults | {
    "timeout_seconds": operations.IO_TIMEOUT_SECONDS,
    "retries": operations.RETRIES,
    "retry_delay_seconds": exponential_backoff(operations.BACKOFF_FACTOR),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": operations.retry_if_transient,
}


@task(**network_task)
def ingest_events(settings: PipelineSettings, events: list[str]) -> IngestReport:
    with warehouse.connect(settings.warehouse) as con:
        return ingest(
            con,
            events,
            settings.column_map,
            list(settings.event_weights),
            settings.max_bad_fraction,
            s3_client=lambda: aws.client("s3", settings),
        )


@task(**task_defaults)
def load_interactions(settings: PipelineSettings) -> Interactions:
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        return interactions.load_matrix(con, interactions.InteractionRules.from_settings(settings))


@task(**task_defaults)
def summarize_data(settings: PipelineSettings, report: IngestReport, data: Interactions) -> dict:
    """The run's data-quality summary, printed and returned."""
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        quality = interactions.quality_summary(con, report.as_dict(), data)
    print(f"data quality:\n{quality.text()}")
    return quality.as_dict()


@task(**task_defaults)
def load_holdout(settings: PipelineSettings) -> evaluate.Holdout:
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        train, test = interactions.split_matrices(
            con,
            interactions.InteractionRules.from_settings(settings),
            settings.holdout_split,
            settings.holdout_days,
            settings.test_fraction,
            settings.split_seed,
        )
    return evaluate.make_holdout(train, test)


@task(**task_defaults)
def fit_model(data: Interactions, settings: PipelineSettings, params: ALSParams | None = None):
    return train.fit(data, params or settings.als, settings.use_gpu)


@task(**task_defaults)
def choose_params(train_part: Interactions, settings: PipelineSettings) -> dict:
    """A parameter search on the training part when one is due, else the last winner reused."""
    last = artifact.last_search(settings.artifacts_dir)
    return tune.choose(train_part, settings.tuning, settings.eval_k, settings.als, last, settings.use_gpu)


@task(**task_defaults)
def evaluate_model(
    model, holdout: evaluate.Holdout, settings: PipelineSettings, served_meta: dict | None
) -> evaluate.Evaluation:
    """The candidate vs the baselines and the served version's parameters, on the same holdout."""
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        segments = (
            interactions.user_segments(con, settings.segment_column, holdout.train.user_ids)
            if settings.segment_column
            else None
        )
    published = ALSParams(**served_meta["params"]) if served_meta and served_meta.get("params") else None
    return evaluate.evaluate_candidate(
        model,
        holdout,
        settings.eval_k,
        settings.eval_ks,
        segments.rename(settings.segment_column) if segments is not None else None,
        published,
        settings.use_gpu,
    )


@task(**task_defaults)
def write_report(
    path: Path, version: str, evaluation: evaluate.Evaluation, gate: evaluate.GateDecision, tuning: dict
) -> Path:
    """The run report into the artifact directory, and its key table and text as Prefect artifacts."""
    page = report.write_report(
        path, version, evaluation.as_dict(), asdict(gate), tuning, artifact.history(path.parent)
    )
    create_table_artifact(
        key="nightly-metrics",
        table=report.metric_rows(evaluation.as_dict()),
        description=f"Holdout metrics of {version}: {'passed' if gate.passed else 'REFUSED'}",
    )
    create_markdown_artifact(key="nightly-report", markdown=page.read_text(), description=f"Run {version}")
    return page


@task(**task_defaults)
def load_seen(data: Interactions, settings: PipelineSettings):
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        return interactions.seen_matrix(con, settings.exclude_items_regex, data)


@task(**task_defaults)
def score_users(model, seen, k: int, users: range) -> recommend.TopK:
    return shard.score(model, seen, k, users)


@task(**task_defaults)
def precompute(
    model, data: Interactions, settings: PipelineSettings, user_parts: list[recommend.TopK]
) -> recommend.Precomputed:
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        segments = (
            interactions.user_segments(con, settings.segment_column, data.user_ids)
            if settings.segment_column
            else None
        )
    popular = recommend.popular_by_segment(data.user_items, segments, settings.k)
    return recommend.Precomputed(
        user_ids=data.user_ids,
        item_ids=data.item_ids,
        users=shard.concat(user_parts),
        similar=recommend.similar_items(model, settings.similar_k),
        popular=popular,
        k=settings.k,
    )


@task(**task_defaults)
def save_artifact(
    version: str,
    model,
    data: Interactions,
    settings: PipelineSettings,
    evaluation: evaluate.Evaluation,
    gate: evaluate.GateDecision,
    tuning: dict,
) -> Path:
    meta = {
        "status": "passed" if gate.passed else "refused",
        "params": tuning["best"],
        "configured_params": settings.als.model_dump(),
        "tuning": tuning,
        "metrics": evaluation.overall,
        "evaluation": evaluation.as_dict(),
        "gate": asdict(gate),
        "data_fingerprint": artifact.fingerprint(data),
        "k": settings.k,
    }
    return artifact.save(
        artifact.Artifact(version, model, data.user_ids, data.item_ids, meta), settings.artifacts_dir
    )


@task(**network_task)
def served_version(settings: PipelineSettings) -> tuple[str | None, dict | None]:
    """The version being served and its artifact's meta (None, None before the first publish)."""
    version = operations.served_version(aws.client("dynamodb", settings), settings.table_name)
    return version, operations.served_model(settings.artifacts_dir, version)


@task(**network_task)
def publish_version(
    version: str, pre: recommend.Precomputed, metrics: dict, settings: PipelineSettings
) -> publish.PublishReport:
    return publish.publish(
        aws.client("dynamodb", settings),
        settings.table_name,
        version,
        pre,
        metrics,
        settings.ttl_days,
        settings.publish_workers,
        keep_versions=settings.keep_versions,
        max_attempts=settings.publish_max_attempts,
        create_table=settings.create_table,
    )


@flow(name="nightly", timeout_seconds=8 * 3600)
@operations.one_run_at_a_time
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
    files = operations.resolve_events(events, run_date, flow_run.scheduled_start_time)
    ingested = ingest_events(settings, files)
    log.info("ingest: %s", ingested.as_dict())

    # 1b. decide: a model of the data and parameters of the served one is neither made nor published twice
    data = load_interactions(settings)
    served, served_meta = served_version(settings)
    plan = operations.plan_run(
        len(ingested.files_loaded),
        artifact.fingerprint(data),
        settings.als.model_dump(),
        served,
        served_meta,
        settings.on_empty_day,
        force,
    )
    log.info("plan: %s", plan.reason)
    if not plan.train:
        return RunSummary(served or "", False, plan.reason, *data.shape, 0, ingest=ingested.as_dict())

    # 2. measure: tune on the training part (on schedule, else reuse the last winner), fit on it,
    #    score on the holdout next to the baselines and the served version's parameters, gate
    holdout = load_holdout(settings)
    tuning = choose_params(holdout.train, settings)
    params = ALSParams(**tuning["best"])
    evaluation = evaluate_model(fit_model(holdout.train, settings, params), holdout, settings, served_meta)
    metrics = evaluation.overall
    gate = evaluate.quality_gate(
        metrics["model"],
        metrics["popular"],
        settings.eval_k,
        settings.min_lift_over_popular,
        published=metrics.get("published"),
        tolerance=settings.max_drop_vs_published,
        published_version=served,
    )
    log.info("quality gate: %s", gate.reason)

    # 3. train the model to serve on every interaction, and keep it as a versioned artifact
    quality = summarize_data(settings, ingested, data)
    model = fit_model(data, settings, params)
    version = artifact.new_version()
    path = save_artifact(version, model, data, settings, evaluation, gate, tuning)
    page = write_report(path, version, evaluation, gate, tuning)
    log.info("artifact %s saved to %s, report %s", version, path, page)
    summary = RunSummary(
        version, False, gate.reason, data.shape[0], data.shape[1], 0, metrics, ingested.as_dict(), quality
    )
    if not gate.passed and not force:
        summary.reason = f"refused by the quality gate, {served or 'nothing'} keeps serving: {gate.reason}"
        log.warning("not publishing %s: %s", version, summary.reason)
        return summary
    if not plan.publish:
        log.info("not publishing %s: %s", version, plan.reason)
        summary.reason = plan.reason
        return summary

    # 4. precompute every answer and publish it under the new version, then flip the pointer;
    #    users are scored in shards (ranges), which a Dask or Ray task runner spreads over workers
    seen = load_seen(data, settings)
    ranges = shard.ranges(data.shape[0], settings.score_shards)
    parts = score_users.map(unmapped(model), unmapped(seen), unmapped(settings.k), ranges)
    pre = precompute(model, data, settings, parts)
    published = publish_version(version, pre, metrics, settings)
    summary.published, summary.rows_published = True, published.rows_written
    return summary
