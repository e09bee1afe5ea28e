"""The nightly Prefect flow. It reads top to bottom as the pipeline and holds no logic:
each task calls one stage function."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from pipeline import artifact, aws, evaluate, interactions, publish, recommend, train, warehouse
from pipeline.ingest import IngestReport, ingest
from pipeline.interactions import Interactions
from pipeline.settings import PipelineSettings, load_settings


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

    def as_dict(self) -> dict:
        return asdict(self)


task_defaults = {"cache_policy": NO_CACHE, "log_prints": True}


@task(**task_defaults)
def ingest_events(settings: PipelineSettings, events: list[str]) -> IngestReport:
    with warehouse.connect(settings.warehouse) as con:
        return ingest(
            con, events, settings.column_map, list(settings.event_weights), settings.max_bad_fraction
        )


@task(**task_defaults)
def load_interactions(settings: PipelineSettings) -> Interactions:
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        return interactions.to_matrix(
            interactions.interactions_frame(con, settings.event_weights, settings.exclude_items_regex)
        )


@task(**task_defaults)
def load_holdout(settings: PipelineSettings) -> evaluate.Holdout:
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        before, after = interactions.split_by_time(
            con, settings.event_weights, settings.exclude_items_regex, settings.holdout_days
        )
    return evaluate.make_holdout(interactions.to_matrix(before), interactions.to_matrix(after))


@task(**task_defaults)
def fit_model(data: Interactions, settings: PipelineSettings):
    return train.fit(data, settings.als, settings.use_gpu)


@task(**task_defaults)
def evaluate_model(model, holdout: evaluate.Holdout, k: int) -> dict:
    users = holdout.test_users
    relevant = holdout.test[users]
    ours = recommend.top_k_for_users(model, holdout.train.user_items, k, users)
    popular = recommend.popular_top_k(holdout.train.user_items, k, users)
    return {
        "model": evaluate.ranking_metrics(ours.ids, relevant, k)
        | {"coverage": evaluate.coverage(ours.ids, holdout.train.shape[1])},
        "popular": evaluate.ranking_metrics(popular.ids, relevant, k)
        | {"coverage": evaluate.coverage(popular.ids, holdout.train.shape[1])},
    }


@task(**task_defaults)
def precompute(model, data: Interactions, settings: PipelineSettings) -> recommend.Precomputed:
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
        users=recommend.top_k_for_users(model, data.user_items, settings.k),
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
    metrics: dict,
    gate: evaluate.GateDecision,
) -> Path:
    meta = {
        "params": settings.als.model_dump(),
        "metrics": metrics,
        "gate": asdict(gate),
        "data_fingerprint": artifact.fingerprint(data),
        "k": settings.k,
    }
    return artifact.save(
        artifact.Artifact(version, model, data.user_ids, data.item_ids, meta), settings.artifacts_dir
    )


@task(retries=3, retry_delay_seconds=[2, 10, 30], **task_defaults)
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
    )
        keep_versions=settings.keep_versions,
        max_attempts=settings.publish_max_attempts,
        create_table=settings.create_table,


@flow(name="nightly")
def nightly(
    events: list[str],
    config: str | None = None,
    force: bool = False,
    settings: PipelineSettings | None = None,
) -> RunSummary:
    """Ingest new event files, train and measure a model, and publish it if it passes the gate."""
    log = get_run_logger()
    settings = settings or load_settings(config)

    # 1. log: append the new raw events
    report = ingest_events(settings, events)
    log.info("ingest: %s", report.as_dict())

    # 2. measure: fit on all but the last days, score on them, compare with the popular baseline
    holdout = load_holdout(settings)
    metrics = evaluate_model(fit_model(holdout.train, settings), holdout, settings.eval_k)
    gate = evaluate.quality_gate(
        metrics["model"], metrics["popular"], settings.eval_k, settings.min_lift_over_popular
    )
    log.info("quality gate: %s", gate.reason)

    # 3. train the model to serve on every interaction, and keep it as a versioned artifact
    data = load_interactions(settings)
    model = fit_model(data, settings)
    version = artifact.new_version()
    path = save_artifact(version, model, data, settings, metrics, gate)
    log.info("artifact %s saved to %s", version, path)
    summary = RunSummary(
        version, False, gate.reason, data.shape[0], data.shape[1], 0, metrics, report.as_dict()
    )
    if not gate.passed and not force:
        log.warning("not publishing %s: %s", version, gate.reason)
        return summary

    # 4. precompute every answer and publish it under the new version, then flip the pointer
    pre = precompute(model, data, settings)
    published = publish_version(version, pre, metrics, settings)
    create_table_artifact(
        key="nightly-metrics",
        table=[{"model": name, **values} for name, values in metrics.items()],
        description=f"Holdout metrics of {version}",
    )
    summary.published, summary.rows_published = True, published.rows_written
    return summary
