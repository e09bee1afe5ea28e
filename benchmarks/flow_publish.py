"""Benchmark, part of ``benchmarks.flow``: the flow's publishing next to a bare boto3 loop, fairly.

After the nightly flow has published a version, in the same process and against the same
local server:

1. the version's rows are rebuilt exactly as the flow built them, from its artifact and the
   warehouse through the flow's own task functions (``.fn``), and checked against the
   fingerprint the flow registered for the version (``rows_digest``): the same rows, or an error;
2. the flow's publishing task (``fanout.publish_version``: table check, registry, encoding,
   parallel writes with the resume watermark, read-back, pointer flip) and a bare boto3
   ``batch_writer`` loop on the same number of threads (the rows decoded to Python values
   before its clock starts) each write every row to a fresh table of the same server,
   ``repeats`` times, alternating which goes first; each table is made before the clock
   and deleted after its run, so every run meets the same server.

The flow's own publishing seconds (Prefect's record) are a single run taken at another
moment, against a server that had just done the flow's other work: reported, but the ratio
is taken from these side-by-side runs. Reading the rows back from the table instead (a Scan)
costs moto O(rows²): minutes at 100k rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from benchmarks.proc import record


@dataclass(frozen=True)
class Side:
    """Each run's seconds of one side, in run order."""

    name: str
    seconds: list[float]

    @property
    def best(self) -> float:
        return min(self.seconds)


def rebuild(settings, version: str):
    """The Precomputed rows of ``version`` as the flow built them (its stage 4 through ``.fn``)."""
    from pipeline import fanout, flow
    from pipeline.model import artifact
    from pipeline.precompute import shard

    model = artifact.load(settings.artifacts_dir, version).model
    data = flow.load_interactions.fn(settings)
    item_rules = flow.catalog_rules.fn(data, settings)
    seen = flow.load_seen.fn(data, settings, item_rules)
    segments = flow.load_segments.fn(data, settings)
    new = flow.load_new_items.fn(data, settings)
    depth = settings.k + settings.candidates
    parts = [
        fanout.score_users.fn(shard.slice_for(model, seen, users), depth, item_rules.available)
        for users in shard.ranges(data.shape[0], settings.score_shards)
    ]
    return fanout.precompute.fn(model, data, segments, settings, parts, item_rules, new)


def same_rows_or_raise(client, settings, version: str, pre) -> None:
    """The rebuilt rows' fingerprint is the one the flow registered for ``version``."""
    from pipeline.publish import registry, writer

    entry = registry.registry_entry(client, settings.table_name, version)
    digest = writer.rows_digest(pre)
    if entry is None or entry.fingerprint != digest or entry.rows != pre.n_rows:
        raise RuntimeError(
            f"the rows rebuilt for {version} ({pre.n_rows}, fingerprint {digest}) are not the ones the "
            f"flow published ({entry}): the comparison would not be of the same rows"
        )


def compare(aws, settings, version: str, metrics: dict, repeats: int = 2) -> dict:
    """Seconds of the flow's publishing task and of the bare loop, alternating, on fresh tables."""
    import boto3
    from boto3.dynamodb.types import TypeDeserializer

    from benchmarks.publish import bare_batch_writer
    from pipeline import fanout
    from pipeline.publish import dynamo, writer

    client = boto3.client("dynamodb", endpoint_url=aws.endpoint_url, region_name=aws.region)
    pre = rebuild(settings, version)
    same_rows_or_raise(client, settings, version, pre)
    deserialize = TypeDeserializer().deserialize
    expires = int(time.time()) + settings.ttl_days * 86400
    rows = writer.version_rows(version, pre, expires)
    plain = [{k: deserialize(v) for k, v in row.items()} for row in rows]

    def bare(table: str) -> None:
        bare_batch_writer(aws.endpoint_url, aws.region, table, plain, settings.publish_workers)

    def ours(table: str) -> None:
        fanout.publish_version.fn(version, pre, metrics, settings.model_copy(update={"table_name": table}))

    sides = {"flow": Side("flow", []), "bare": Side("bare", [])}
    runs = {"flow": ours, "bare": bare}
    for rep in range(repeats):
        for name in ("bare", "flow") if rep % 2 == 0 else ("flow", "bare"):
            table = f"bench-{name}-{rep}"
            dynamo.check_table(client, table, create=True)
            started = time.perf_counter()
            runs[name](table)
            sides[name].seconds.append(time.perf_counter() - started)
            client.delete_table(TableName=table)  # the next run meets the same server
    return {"rows": pre.n_rows, "flow": sides["flow"].seconds, "bare": sides["bare"].seconds}


def records(found: dict, recorded: float, peak: float) -> list[dict]:
    """The side-by-side figures (best of each side), and the flow's own recorded publish next to them."""
    flow, bare = Side("flow", found["flow"]), Side("bare", found["bare"])
    workers = found["publish_workers"]
    return [
        record(
            f"publish (the flow's task) vs bare batch_writer ({workers} threads), same rows, "
            f"alternating, best of {len(flow.seconds)}",
            flow.best, bare.best, peak, rows=found["rows"], flow_runs=[round(s, 2) for s in flow.seconds],
            bare_runs=[round(s, 2) for s in bare.seconds], throughput_ratio=round(bare.best / flow.best, 3),
        ),
        record(
            "publish inside the flow (Prefect's record, one run) vs the best bare run",
            recorded, bare.best, peak, rows=found["rows"],
            throughput_ratio=round(bare.best / recorded, 3) if recorded else None,
        ),
    ]  # fmt: skip
