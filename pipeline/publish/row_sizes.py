"""Row sizes before a publish: whether a version's rows fit one DynamoDB write unit (1 KB).

A row over 1,024 B costs two write units (or more) at publish and more read capacity per miss.
Long item ids make rows larger whatever the encoding (docs/catalog.md gives the most items a row
holds within one unit by id length), so before the rows are written a sample of them is encoded
and measured as DynamoDB bills them (``contract.item_size``), and a warning names the largest
and what to change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

import contract
from pipeline.precompute.recommend import Precomputed

log = logging.getLogger(__name__)

SAMPLE_BLOCKS = 8  # evenly spaced runs of rows across the version's row order
BLOCK_ROWS = 250


@dataclass(frozen=True)
class RowSizes:
    """The measured rows of a sample: how many, their mean and largest size, and how many are over 1 KB."""

    rows: int
    mean_bytes: float
    largest_bytes: int
    over_one_unit: int

    @property
    def fits(self) -> bool:
        return self.largest_bytes <= contract.WRITE_UNIT_BYTES


def sample_parts(n_rows: int, blocks: int = SAMPLE_BLOCKS, block_rows: int = BLOCK_ROWS) -> list[range]:
    """``blocks`` runs of ``block_rows`` rows spread evenly over ``0..n_rows`` (all rows when fewer)."""
    if n_rows <= blocks * block_rows:
        return [range(n_rows)]
    starts = np.linspace(0, n_rows - block_rows, blocks).astype(int).tolist()
    return [range(s, s + block_rows) for s in dict.fromkeys(starts)]


def measure(rows: Iterator[dict]) -> RowSizes:
    sizes = np.array([contract.item_size(r) for r in rows], dtype=np.int64)
    if not sizes.size:
        return RowSizes(0, 0.0, 0, 0)
    over = int((sizes > contract.WRITE_UNIT_BYTES).sum())
    return RowSizes(int(sizes.size), float(sizes.mean()), int(sizes.max()), over)


def check_row_sizes(
    version: str,
    pre: Precomputed,
    expires_at: int,
    encode: Callable[[str, Precomputed, int, range], Iterator[dict]],
) -> RowSizes:
    """Measure a sample of ``version``'s rows (``encode``: ``writer.version_rows``); warn when one is
    over one write unit."""
    parts = sample_parts(pre.n_rows)
    sizes = measure(row for part in parts for row in encode(version, pre, expires_at, part))
    if not sizes.fits:
        longest = max((len(i.encode()) for i in pre.item_ids.tolist()), default=0)
        log.warning(
            "version %s: %d of %d sampled rows are over one DynamoDB write unit (largest %d B, mean %.0f B; "
            "%d items a user row, item ids up to %d bytes): each costs two write units or more at publish; "
            "fewer items (k + candidates) keep rows within one (docs/catalog.md, row sizes)",
            version, sizes.over_one_unit, sizes.rows, sizes.largest_bytes, sizes.mean_bytes,
            pre.users.ids.shape[1], longest,
        )  # fmt: skip
    return sizes
