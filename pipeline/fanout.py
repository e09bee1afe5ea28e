"""Scale-out: the nightly's scoring and publishing as shards, run by the task runner the settings name.

``score_and_publish`` is a Prefect subflow. Its tasks take plain data (the model, the seen
matrix, id arrays, segments) and never touch the warehouse, so any worker can run them:

1. ``score_users`` once per user range (``score_shards``), each sent only its users' rows of
   the factors and the seen matrix (``shard.slice_for``); the parts joined in order by
   ``precompute``, which adds similar items and the popular lists;
2. with ``publish_shards`` = 1, ``publish_version``: one resumable publish (its watermark
   resumes a crashed run);
3. else ``begin_publish`` registers the version once, ``write_part`` writes each row part
   (``shard.row_parts``) and ``finish_publish`` verifies the summed count and flips the
   pointer once, after every part is in. A part that fails on a transient error is retried
   alone (Prefect's task retries); one that gives up fails the run before the flip, and the
   version stays ``writing``.

``task_runner`` picks where the tasks run: ``default``, threads of the flow's process;
``dask``, the workers of the Dask cluster at ``dask_address`` (prefect-dask's
``DaskTaskRunner``), or of a ``distributed.LocalCluster`` of ``dask_workers`` processes started
for the subflow when no address is set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from prefect import flow, task, unmapped
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from pipeline import aws
from pipeline.data.interactions import Interactions
from pipeline.ops.retries import network_task, task_defaults
from pipeline.precompute import explore, recommend, rules, shard
from pipeline.publish import experiments, writer
from pipeline.settings import PipelineSettings


class Inputs:
    """What the subflow scores: the model, the interactions, the seen matrix and each user's segment;
    the catalog's rules (None: every item available, no catalog) and its new items to explore.

    One object with ``__slots__`` rather than four parameters: Prefect JSON-encodes a flow run's
    parameters for its API (which refuses more than 512 KB), and would turn a segments Series of
    100k users into a 1 MB dict and deep-copy a dataclass of matrices on the way. An object with
    no ``__dict__`` is recorded as ``"<Inputs>"`` at once.
    """

    __slots__ = ("model", "data", "seen", "segments", "item_rules", "new")

    def __init__(
        self,
        model,
        data: Interactions,
        seen,
        segments: pd.Series | None,
        item_rules: rules.ItemRules | None = None,
        new: explore.NewItems = explore.NONE,
    ) -> None:
        self.model, self.data, self.seen, self.segments = model, data, seen, segments
        self.item_rules = item_rules or rules.ItemRules.none(data.shape[1])
        self.new = new


def task_runner(settings: PipelineSettings) -> TaskRunner:
    """The task runner ``settings.task_runner`` names, built fresh for one subflow run."""
    if settings.task_runner == "default":
        return ThreadPoolTaskRunner()
    from prefect_dask import DaskTaskRunner

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    cluster: dict[str, object] = {"n_workers": settings.dask_workers, "threads_per_worker": 1}
    cluster |= {"processes": True, "dashboard_address": None}  # no web dashboard nobody asked for
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs=cluster)


@task(**task_defaults)
def score_users(part: shard.Slice, k: int, available: np.ndarray | None = None) -> recommend.TopK:
    """Top ``k`` of the shard's users among ``available`` items (None: all)."""
    return rules.score_range(part.model, part.seen, k, part.rows, available)


@task(**task_defaults)
def precompute(
    model,
    data: Interactions,
    segments: pd.Series | None,
    settings: PipelineSettings,
    user_parts: Sequence[recommend.TopK],
    item_rules: rules.ItemRules,
    new: explore.NewItems,
) -> recommend.Precomputed:
    """The scored shards in order with new items offered to explore, plus each item's similar items
    and the popular lists: without unavailable items, ``candidates`` deeper than k, with categories."""
    spare, available = settings.candidates, item_rules.available
    users, categories, new_ids = explore.with_new_items(
        shard.concat(user_parts),
        data.user_items,
        item_rules.categories,
        new,
        settings.k,
        settings.new_item_share,
    )
    return recommend.Precomputed(
        user_ids=data.user_ids,
        item_ids=data.item_ids,
        users=users,
        similar=rules.similar_available(model, settings.similar_k + spare, available),
        popular=rules.popular_available(data.user_items, segments, settings.k + spare, available),
        k=settings.k,
        categories=categories,
        new_item_ids=new_ids,
        names=item_rules.names,
    )


@task(**network_task)
def publish_version(
    version: str, pre: recommend.Precomputed, metrics: dict, settings: PipelineSettings
) -> writer.PublishReport:
    return writer.publish(
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
        canary=canary_plan(settings),
    )


@task(**network_task)
def begin_publish(
    version: str, pre: recommend.Precomputed, metrics: dict, settings: PipelineSettings
) -> writer.Begun:
    client = aws.client("dynamodb", settings)
    return writer.begin(
        client, settings.table_name, version, pre, metrics, settings.ttl_days, settings.create_table,
        canary_plan(settings),
    )  # fmt: skip


@task(**network_task)
def write_part(
    version: str, pre: recommend.Precomputed, begun: writer.Begun, part: int, settings: PipelineSettings
) -> int:
    """Part ``part`` of ``publish_shards`` of the version's rows; the rows DynamoDB acknowledged."""
    rows = shard.row_parts(pre, settings.publish_shards)[part]
    return writer.write_part(
        aws.client("dynamodb", settings), settings.table_name, version, pre, begun, rows,
        workers=settings.publish_workers, max_attempts=settings.publish_max_attempts,
    )  # fmt: skip


@task(**network_task)
def finish_publish(
    version: str,
    pre: recommend.Precomputed,
    begun: writer.Begun,
    written: Sequence[int],
    settings: PipelineSettings,
) -> writer.PublishReport:
    """Verify the parts' summed count and the sampled keys, then flip the pointer once."""
    client = aws.client("dynamodb", settings)
    return writer.finish(
        client, settings.table_name, version, pre, begun, int(np.sum(written)), settings.keep_versions,
        canary_plan(settings),
    )  # fmt: skip


def canary_plan(settings: PipelineSettings) -> experiments.CanaryPlan | None:
    """How a new version goes out: as a canary (``publish_as = "canary"``), or None to flip the pointer."""
    if settings.publish_as != "canary":
        return None
    return experiments.CanaryPlan(settings.canary_share, settings.canary_hours)


@flow(name="score-and-publish")
def score_and_publish(
    version: str, inputs: Inputs, metrics: dict, settings: PipelineSettings
) -> writer.PublishReport:
    """Score every user in shards, precompute the version's rows, publish them and flip the pointer."""
    model, data, seen, segments = inputs.model, inputs.data, inputs.seen, inputs.segments
    item_rules, new = inputs.item_rules, inputs.new
    # each shard is sent its own users' factor and seen rows, not the whole model and matrix
    slices = [shard.slice_for(model, seen, r) for r in shard.ranges(data.shape[0], settings.score_shards)]
    depth = settings.k + settings.candidates
    parts = score_users.map(slices, unmapped(depth), unmapped(item_rules.available))
    pre = precompute.submit(model, data, segments, settings, parts, item_rules, new)  # type: ignore[arg-type]
    if settings.publish_shards == 1:
        return publish_version.submit(version, pre, metrics, settings).result()  # type: ignore[call-overload]
    begun = begin_publish.submit(version, pre, metrics, settings)  # type: ignore[call-overload]
    shards = range(len(shard.ranges(data.shape[0], settings.publish_shards)))  # fewer users: fewer parts
    written = write_part.map(unmapped(version), unmapped(pre), unmapped(begun), shards, unmapped(settings))
    return finish_publish.submit(version, pre, begun, written, settings).result()  # type: ignore[call-overload]


def on_runner(settings: PipelineSettings):
    """``score_and_publish`` on the task runner the settings name (a fresh one per call)."""
    return score_and_publish.with_options(task_runner=task_runner(settings))  # type: ignore[arg-type]
