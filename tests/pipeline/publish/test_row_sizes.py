"""Row sizes before a publish: a sample measured as DynamoDB bills it, and a warning over 1 KB."""

from __future__ import annotations

import logging

import numpy as np

from pipeline.precompute.recommend import Precomputed, TopK
from pipeline.publish import row_sizes, writer
from tests.pipeline.publish.fixtures import make_precomputed, run_publish


def version(id_length: int, users: int = 3000, width: int = 60) -> Precomputed:
    n_items = 200
    item_ids = np.array([f"{j:0{id_length}d}" for j in range(n_items)], dtype=object)
    ids = np.stack([np.roll(np.arange(width, dtype=np.int32), u) for u in range(users)])
    scores = np.tile(np.linspace(0.9, 0.1, width, dtype=np.float32), (users, 1))
    similar = TopK(
        np.tile(np.arange(1, 21, dtype=np.int32), (n_items, 1)), np.full((n_items, 20), 0.5, np.float32)
    )
    popular = {"global": TopK(ids[:1], scores[:1])}
    categories = np.array([f"home/c{j % 7}" for j in range(n_items)], dtype=object)
    return Precomputed(np.array([f"u{u:09d}" for u in range(users)]), item_ids, TopK(ids, scores), similar,
                       popular, 50, categories)  # fmt: skip


def test_the_sample_spreads_over_the_rows_and_covers_small_versions_whole():
    assert row_sizes.sample_parts(100) == [range(100)]
    parts = row_sizes.sample_parts(100_000, blocks=4, block_rows=10)
    assert parts == [range(0, 10), range(33_330, 33_340), range(66_660, 66_670), range(99_990, 100_000)]


def test_short_ids_fit_one_unit_silently_and_long_ones_are_named(caplog):
    caplog.set_level(logging.WARNING, logger="pipeline.publish.row_sizes")
    fits = row_sizes.check_row_sizes("v1", version(6), 1_790_000_000, writer.version_rows)
    assert fits.fits and fits.rows == 2000 and 800 < fits.mean_bytes < fits.largest_bytes < 1024
    assert caplog.records == []
    big = row_sizes.check_row_sizes("v1", version(16), 1_790_000_000, writer.version_rows)
    assert not big.fits and big.over_one_unit > 1000 and big.largest_bytes > 1400
    (warning,) = caplog.records
    assert "over one DynamoDB write unit" in warning.getMessage()
    assert "60 items a user row, item ids up to 16 bytes" in warning.getMessage()


def test_the_publish_report_carries_the_sample_and_a_republish_measures_nothing(dynamodb, table_name):
    pre = make_precomputed(users=30, items=20, k=8)
    report = run_publish(dynamodb, table_name, "v1", pre)
    assert report.row_sizes is not None and report.row_sizes.rows == pre.n_rows
    assert report.row_sizes.fits and 0 < report.row_sizes.mean_bytes <= report.row_sizes.largest_bytes
    again = run_publish(dynamodb, table_name, "v1", pre)
    assert not again.flipped and again.row_sizes is None
