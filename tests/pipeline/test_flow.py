"""The flow's stages: each has a timeout, and only network stages retry."""

from __future__ import annotations

from pipeline.ops import retries


def test_every_stage_has_a_timeout_and_only_network_stages_retry():
    from prefect import Task

    from pipeline import fanout, flow

    tasks = {
        name: obj for module in (flow, fanout) for name, obj in vars(module).items() if isinstance(obj, Task)
    }
    assert {"ingest_events", "fit_model", "publish_version"} <= set(tasks)
    assert {name for name, t in tasks.items() if not t.timeout_seconds} == set()
    for name in ("ingest_events", "served_version", "publish_version", "begin_publish", "write_part"):
        assert tasks[name].retries == retries.RETRIES
        assert tasks[name].retry_delay_seconds == [2.0, 4.0, 8.0]  # exponential backoff
        assert tasks[name].retry_condition_fn is retries.retry_if_transient
    for name in ("load_holdout", "fit_model", "evaluate_model", "score_users", "precompute", "save_artifact"):
        assert tasks[name].retries == 0, name  # computing again the same way fails the same way
