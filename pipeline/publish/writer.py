"""Publish: write a model version's rows to DynamoDB, verify them, then flip the current-version pointer.

The item layout is ``contract``'s. The steps, each a short function:

1. ``check_table`` (``dynamo``): the table exists (or is created) with the contract's key schema.
2. ``begin_version`` (``registry``): the version's registry entry (``meta#version``) says
   ``writing``; a re-run of the same version resumes from its watermark
   (``rows_done``, the rows known written in stream order) and reuses its expiry.
3. ``write_rows`` (``dynamo``): parallel BatchWriteItem; unprocessed items and throttling are
   retried with exponential backoff and full jitter, a batch that still fails after
   ``max_attempts`` raises ``PublishError``.
4. ``verify_version``: the writes' acknowledged count must equal the expected
   row count (DynamoDB acknowledges an item only once it is durably written; the
   rest come back as UnprocessedItems), and a random sample of keys plus every
   popular list is read back with consistent reads. A full count would need a
   scan of every kept version (minutes and ~N x versions / 8 read units at 1M
   users); a per-version counter item would double-count idempotent rewrites
   and be a hot key.
5. ``flip_pointer`` (``registry``): one conditional PutItem of ``meta#pointer`` (only if nobody
   flipped it since we read it), then older versions beyond ``keep_versions`` are
   marked ``retired``; their rows go by TTL.

Any failure before step 5 leaves the pointer untouched: readers keep the old version.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

import contract
from pipeline.errors import PublishError
from pipeline.precompute import rules
from pipeline.precompute.recommend import Precomputed, TopK
from pipeline.publish import experiments
from pipeline.publish.categories import category_table, put_category_table
from pipeline.publish.dynamo import check_table, missing_rows, write_rows
from pipeline.publish.registry import (
    VersionStart,
    begin_version,
    current_pointer,
    flip_pointer,
    retire_old_versions,
    save_watermark,
    set_status,
)
from pipeline.publish.row_sizes import RowSizes, check_row_sizes

log = logging.getLogger(__name__)

VERIFY_SAMPLE = 200  # random row keys read back before a flip (plus every popular list)
CHECKPOINT_ROWS = 10_000  # how often the resume watermark is saved
PROGRESS_MIN_ROWS = 20_000  # publishes at least this long show a progress bar (on a terminal)


@dataclass(frozen=True)
class PublishReport:
    version: str
    rows_written: int  # rows written by this call (a resumed run skips the rows already in)
    previous_version: str | None
    seconds: float
    rows_resumed: int = 0  # rows a crashed earlier run had already written
    flipped: bool = True  # False: the version was already published, nothing was done
    retired: tuple[str, ...] = ()
    row_sizes: RowSizes | None = None  # a sample of the rows, measured before writing them


# --- 1. the table: dynamo.check_table ------------------------------------------------------------


# --- 2. the version's registry entry: registry.begin_version -------------------------------------


def rows_digest(pre: Precomputed) -> str:
    """A digest of everything a version's rows are made of: a resumed run must write the same rows."""
    digest = hashlib.sha256()
    for array in (pre.user_ids, pre.item_ids):
        digest.update("\x1f".join(map(str, array.tolist())).encode())
    for top in (pre.users, pre.similar, *(pre.popular[s] for s in sorted(pre.popular))):
        digest.update(np.ascontiguousarray(top.ids).tobytes())
        digest.update(np.ascontiguousarray(top.scores).tobytes())
    digest.update(f"{sorted(pre.popular)}|{pre.k}".encode())
    if pre.categories is not None:
        digest.update("\x1f".join(map(str, pre.categories.tolist())).encode())
    if pre.new_item_ids is not None:
        digest.update("\x1f".join(pre.new_item_ids.tolist()).encode())
    if pre.names is not None:
        digest.update("\x1f".join(map(str, pre.names.tolist())).encode())
    return digest.hexdigest()[:16]


# --- 3. the rows ----------------------------------------------------------------------------------


def _lists(top: TopK, item_ids: np.ndarray) -> Iterator[tuple[str, str]]:
    """Each row's ``items`` and ``scores`` text, as ``contract.encode_row`` writes them (padding, -1,
    dropped)."""
    for ids, scores in zip(top.ids.tolist(), top.scores.tolist(), strict=True):
        keep = [i for i in ids if i >= 0]
        yield contract.ids_text(item_ids[keep].tolist()), contract.scores_text(scores[: len(keep)])


def version_rows(
    version: str, pre: Precomputed, expires_at: int, part: range | None = None
) -> Iterator[dict]:
    """Every DynamoDB item of a version, in a fixed order: users, then items, then popular segments.

    ``part``: only the rows at these positions of that order (a shard's, or those after a resume
    watermark), encoded without touching the rows before them. The version's category table
    (``put_category_table``) is not one of them: ``begin`` writes it before any row.
    """
    part = range(pre.n_rows) if part is None else part
    listed = pre.item_ids if pre.new_item_ids is None else np.concatenate([pre.item_ids, pre.new_item_ids])
    listed = np.asarray(listed, dtype=object)
    table = category_table(pre)
    codes = None if table is None or pre.categories is None else rules.item_codes(pre.categories, table)
    for kind, lo, pks, top in _row_groups(pre, part):
        cats = rules.row_category_codes(top, codes) if codes is not None else None
        new = rules.row_new_items(top, len(pre.item_ids)) if pre.new_item_ids is not None else None
        about = _item_about(pre, lo, len(pks)) if kind == "item" else None
        for pk, (items_text, scores_text) in zip(pks, _lists(top, listed), strict=True):
            row = contract.encode_text_row(pk, version, items_text, scores_text, expires_at)
            if cats is not None:  # each item's category code, for ?category= (contract._categories)
                row[contract.CATEGORIES_ATTRIBUTE] = {"S": next(cats)}
            if new is not None and (positions := next(new)):  # items offered to explore
                row[contract.NEW_ATTRIBUTE] = {"S": contract.encode_new(positions)}
            if about is not None:  # an item's name and category, on its own row
                row[contract.ABOUT_ATTRIBUTE] = {"S": next(about)}
            yield row


def _item_about(pre: Precomputed, lo: int, n: int) -> Iterator[str] | None:
    """The ``about`` attributes of item rows ``lo`` to ``lo + n`` (None without a catalog's names)."""
    if pre.names is None:
        return None
    categories = None if pre.categories is None else pre.categories[lo : lo + n]
    return rules.item_about(pre.names[lo : lo + n], categories, n)


def _row_groups(pre: Precomputed, part: range) -> Iterator[tuple[str, int, list[str], TopK]]:
    """The row kinds cut to ``part``, each as (kind, its first row's index within the kind, keys,
    lists): users at 0.., items after them, popular last."""
    if part.step != 1 or part.start < 0 or part.stop > pre.n_rows:
        raise ValueError(f"part must be a contiguous range within 0..{pre.n_rows}, got {part}")
    segments = sorted(pre.popular)
    kinds = [
        ("user", pre.user_ids, contract.user_pk, pre.users),
        ("item", pre.item_ids, contract.item_pk, pre.similar),
        *(("popular", np.array([s], dtype=object), contract.popular_pk, pre.popular[s]) for s in segments),
    ]
    offset = 0
    for kind, ids, pk, top in kinds:
        lo, hi = max(part.start - offset, 0), min(part.stop - offset, len(ids))
        offset += len(ids)
        if lo < hi:
            yield kind, lo, [pk(i) for i in ids[lo:hi].tolist()], TopK(top.ids[lo:hi], top.scores[lo:hi])


def check_keys(pre: Precomputed, sample: int = VERIFY_SAMPLE, seed: int = 0) -> list[str]:
    """The partition keys read back before a flip: the category table, every popular list and a random
    sample of the rest."""
    rng = np.random.default_rng(seed)
    users = rng.choice(len(pre.user_ids), size=min(sample // 2, len(pre.user_ids)), replace=False)
    items = rng.choice(len(pre.item_ids), size=min(sample - len(users), len(pre.item_ids)), replace=False)
    return [
        *([contract.CATEGORY_TABLE_PK] if pre.categories is not None else []),  # the rows' codes need it
        *(contract.popular_pk(s) for s in sorted(pre.popular)),
        *(contract.user_pk(u) for u in pre.user_ids[np.sort(users)].tolist()),
        *(contract.item_pk(i) for i in pre.item_ids[np.sort(items)].tolist()),
    ]


# --- 4. verification ------------------------------------------------------------------------------


def verify_version(client, table: str, version: str, written: int, expected: int, pks: list[str]) -> None:
    """Every row acknowledged, and the sampled rows readable under the version; else ``PublishError``."""
    if written != expected:
        raise PublishError(
            f"version {version}: DynamoDB table {table} acknowledged {written} rows but the version has "
            f"{expected}; the pointer was not flipped"
        )
    missing = missing_rows(client, table, version, pks)
    if missing:
        raise PublishError(
            f"version {version}: {len(missing)} of {len(pks)} sampled rows cannot be read back from "
            f"table {table} (e.g. {missing[:3]}); the pointer was not flipped"
        )


# --- 5. the pointer and retention: registry.flip_pointer, registry.retire_old_versions ----------


def finish_version(
    client,
    table: str,
    version: str,
    k: int,
    written_of: tuple[int, int],
    pks: list[str],
    keep_versions: int,
    canary: experiments.CanaryPlan | None = None,
) -> tuple[str | None, bool, list[str]]:
    """Verify a written version, flip the pointer to it, mark it published and retire old versions.

    With ``canary`` (and a version already served), the pointer stays: the version is marked
    published and starts serving ``canary.share`` of users as the treatment of an experiment
    against the served one (``experiments.start_canary``); a running experiment refuses both.

    For a sharded publish: ``begin_version`` once, ``write_rows`` per shard, then this with
    the shards' summed count. Returns (previous version, whether the pointer changed, retired).
    """
    written, expected = written_of
    verify_version(client, table, version, written, expected, pks)
    served = current_pointer(client, table)
    if canary is not None and served is not None and served.version != version:  # a first version flips
        set_status(
            client, table, version, "published", rows_done=expected, published_at=round(time.time(), 6)
        )
        experiments.start_canary(client, table, version, canary.share, canary.hours)
        return served.version, False, retire_old_versions(client, table, keep_versions)
    experiments.guard_pointer_change(client, table, f"publishing {version} as the served version")
    previous, flipped = flip_pointer(client, table, version, k)
    set_status(client, table, version, "published", rows_done=expected, published_at=round(time.time(), 6))
    return previous, flipped, retire_old_versions(client, table, keep_versions)


# --- a sharded publish: begin once, write_part per shard (any worker), finish once -----------------


@dataclass(frozen=True)
class Begun:
    """A version registered for writing, or found already written: where its rows start, their
    expiry, and the keys read back before the flip."""

    start: VersionStart
    keys: tuple[str, ...]
    row_sizes: RowSizes | None = None  # None: the version was found already written


def begin(
    client,
    table: str,
    version: str,
    pre: Precomputed,
    metrics: dict,
    ttl_days: int,
    create_table: bool,
    canary: experiments.CanaryPlan | None = None,
) -> Begun:
    """Check the table and register ``version`` as being written (steps 1 and 2), once per publish;
    refused first when a running experiment forbids publishing it (``experiments.check_can_publish``)."""
    check_table(client, table, create=create_table)
    experiments.check_can_publish(client, table, version, canary)
    keys = check_keys(pre)
    start = begin_version(
        client, table, version, rows=pre.n_rows, k=pre.k, metrics=metrics, ttl_days=ttl_days,
        digest=rows_digest(pre), check_keys=keys,
    )  # fmt: skip
    if start.status != "writing":
        return Begun(start, tuple(keys))
    put_category_table(client, table, version, pre, start.expires_at)
    sizes = check_row_sizes(version, pre, start.expires_at, version_rows)  # warns over 1 KB
    return Begun(start, tuple(keys), sizes)


def already_done(client, table: str, begun: Begun, version: str) -> PublishReport:
    """The report of a publish that found its version already published (or retired): nothing done."""
    log.info("version %s is already %s: nothing to do", version, begun.start.status)
    pointer = current_pointer(client, table)
    return PublishReport(version, 0, pointer.previous if pointer else None, 0.0, begun.start.rows_done, False)


def write_part(
    client, table: str, version: str, pre: Precomputed, begun: Begun, part: range, **options
) -> int:
    """One shard's rows (``shard.row_parts``), encoded and written; the acknowledged count.

    Idempotent: a retried shard puts the same items again. Nothing is written for a version
    that ``begin`` found already published. ``options``: ``dynamo.write_rows``'.
    """
    if begun.start.status != "writing":
        return 0
    return write_rows(client, table, version_rows(version, pre, begun.start.expires_at, part), **options)


def finish(
    client,
    table: str,
    version: str,
    pre: Precomputed,
    begun: Begun,
    written: int,
    keep_versions: int,
    canary: experiments.CanaryPlan | None = None,
) -> PublishReport:
    """After every shard is in: verify the summed count and the sampled keys, flip, retire."""
    if begun.start.status != "writing":
        return already_done(client, table, begun, version)
    started = time.perf_counter()
    previous, flipped, retired = finish_version(
        client, table, version, pre.k, (written, pre.n_rows), list(begun.keys), keep_versions, canary
    )
    seconds = time.perf_counter() - started
    log.info(
        "published %s: %d rows in shards (previous: %s; retired: %s)", version, written, previous, retired
    )
    return PublishReport(version, written, previous, seconds, 0, flipped, tuple(retired), begun.row_sizes)


# --- the stage ------------------------------------------------------------------------------------


def publish(
    client,
    table: str,
    version: str,
    pre: Precomputed,
    metrics: dict,
    ttl_days: int,
    workers: int = 4,
    *,
    keep_versions: int = 2,
    max_attempts: int = 8,
    base_delay: float = 0.05,
    create_table: bool = True,
    progress: bool | None = None,
    canary: experiments.CanaryPlan | None = None,
) -> PublishReport:
    """Write every row of ``version``, verify them, then flip the pointer to it and retire old versions.

    Re-running a version that crashed half-way resumes after its watermark; re-running a
    published one does nothing. ``progress``: None shows a bar on a terminal for long publishes.
    """
    started = time.perf_counter()
    begun = begin(client, table, version, pre, metrics, ttl_days, create_table, canary)
    start = begun.start
    if start.status != "writing":
        return already_done(client, table, begun, version)

    # write the rows not yet known written, saving the watermark as batches complete
    rows = version_rows(version, pre, start.expires_at, range(start.rows_done, pre.n_rows))
    written = _write_with_watermark(
        client, table, version, rows, (start.rows_done, pre.n_rows), progress,
        workers=workers, max_attempts=max_attempts, base_delay=base_delay,
    )  # fmt: skip

    # verify, flip, retire
    previous, flipped, retired = finish_version(
        client,
        table,
        version,
        pre.k,
        (start.rows_done + written, pre.n_rows),
        list(begun.keys),
        keep_versions,
        canary,
    )
    seconds = time.perf_counter() - started
    log.info(
        "published %s: %d rows in %.1fs (%.0f rows/s; resumed after %d; previous: %s; retired: %s)",
        version, written, seconds, written / max(seconds, 1e-9), start.rows_done, previous, retired,
    )  # fmt: skip
    return PublishReport(
        version, written, previous, seconds, start.rows_done, flipped, tuple(retired), begun.row_sizes
    )


def _write_with_watermark(
    client, table: str, version: str, rows: Iterable[dict], done_of: tuple[int, int], progress, **options
) -> int:
    """``write_rows`` with a progress bar (rows/s) and the resume watermark saved every CHECKPOINT_ROWS."""
    rows_done, total = done_of
    # progress None: a bar on a terminal (tqdm's disable=None) for long publishes only
    short = total - rows_done < PROGRESS_MIN_ROWS
    disable = (True if short else None) if progress is None else not progress
    bar = tqdm(total=total, initial=rows_done, unit="rows", unit_scale=True, desc=f"publish {version}",
               disable=disable, mininterval=1.0)  # fmt: skip
    watermark = {"done": rows_done, "saved": rows_done}

    def on_batch(n: int) -> None:
        watermark["done"] += n
        bar.update(n)
        if watermark["done"] - watermark["saved"] >= CHECKPOINT_ROWS:
            save_watermark(client, table, version, watermark["done"])
            watermark["saved"] = watermark["done"]

    try:
        return write_rows(client, table, rows, on_batch=on_batch, **options)
    finally:
        bar.close()
