"""Example lists for the run report: for a few users of each slice, what they touched and what the
model suggests ("bought A, B -> we suggest X, Y"), with item names where a names file gives them.

The slices are the evaluation's (``evaluate.user_slices``: cold, heavy, one per frequent segment);
the lists are ``recs recommend``'s (``lookup.lists_for``), so the report shows what the API would.
Users are picked evenly spread over each slice's rows, so the same data gives the same examples.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.data import interactions, warehouse
from pipeline.data.interactions import Interactions
from pipeline.model import evaluate, lookup
from pipeline.settings import PipelineSettings

PER_SLICE = 2
SHOWN = 5  # items shown per list (history and suggestions)


@dataclass(frozen=True)
class Example:
    slice: str
    lists: lookup.UserLists


def pick_users(
    data: Interactions, segments: pd.Series | None, per_slice: int = PER_SLICE
) -> list[tuple[str, str]]:
    """(slice, user id) pairs: ``per_slice`` users of each slice, evenly spread over its rows."""
    rows = np.arange(data.shape[0])
    picked = []
    for name, mask in evaluate.user_slices(data.user_items, rows, segments).items():
        members = rows[mask]
        if len(members) == 0:
            continue
        spread = np.unique(np.linspace(0, len(members) - 1, min(per_slice, len(members))).astype(int))
        picked += [(name, str(data.user_ids[members[i]])) for i in spread]
    return picked


def example_lists(
    model,
    data: Interactions,
    segments: pd.Series | None,
    db: Path | None,
    per_slice: int = PER_SLICE,
    k: int = SHOWN,
) -> list[Example]:
    """The examples of a model fitted on ``data``: each picked user's history (from the warehouse
    ``db``) and k suggestions."""
    picked = pick_users(data, segments, per_slice)
    users = list(dict.fromkeys(user for _, user in picked))
    found = {
        lists.user_id: lists for lists in lookup.lists_for(model, data.user_ids, data.item_ids, users, k, db)
    }
    return [Example(name, found[user]) for name, user in picked]


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|#!])")  # after HTML escaping: no < or > left


def _text(value: str) -> str:
    """``value`` shown literally in a Markdown table cell: HTML escaped, Markdown's characters escaped,
    no line breaks (an item name or id is data, never markup)."""
    flat = " ".join(value.split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(flat, quote=False))


def _named(item: str, names: dict[str, str]) -> str:
    name = names.get(item)
    return f"{_text(name)} ({_text(item)})" if name else _text(item)


def markdown(examples: list[Example], names: dict[str, str]) -> str:
    """The report's section: one table row per example, items by name where known."""
    if not examples:
        return "## Example lists\n\n_(no users to show)_"
    rows = ["| slice | user | touched (latest first) | we suggest |", "|---|---|---|---|"]
    for example in examples:
        lists = example.lists
        touched = ", ".join(_named(i, names) for i in lists.history[:SHOWN]) or "_(nothing in the warehouse)_"
        suggested = ", ".join(_named(i, names) for i, _ in lists.items[:SHOWN]) or "_(none)_"
        rows.append(f"| {_text(example.slice)} | {_text(lists.user_id)} | {touched} | {suggested} |")
    return "## Example lists\n\n" + "\n".join(rows)


def report_section(model, data: Interactions, settings: PipelineSettings) -> str:
    """The report's example section for a model fitted on ``data``, with the settings' item names."""
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        segments = interactions.user_segments(con, settings.segment_column, data.user_ids)
    local = settings.warehouse if isinstance(settings.warehouse, Path) else None  # the flow's local copy
    found = example_lists(model, data, segments, local)
    return markdown(found, lookup.item_names(settings.item_names))
