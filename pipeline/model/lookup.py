"""A model's lists for a few users, read from its artifact: no AWS, no publish.

``recs recommend USER...`` uses this to look at what a version would serve: each user's
recent history (what the warehouse holds for them) and the k best items the model gives
them, with item names when a names file exists. The ranking is the precompute's: every
item scored by ``user_factors @ item_factors.T``, items the user already touched left out,
ties to the lower item index.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np

from pipeline.errors import PipelineError
from pipeline.model import artifact as artifacts
from pipeline.storage import Location

HISTORY_ITEMS = 5


class ArtifactLookupError(PipelineError):
    """A version or a names file that cannot be read; the message says which and why."""


@dataclass(frozen=True)
class UserLists:
    user_id: str
    known: bool  # False: the model has no factors for this user (the API would answer the fallback)
    history: list[str] = field(default_factory=list)  # the user's latest items, newest first
    items: list[tuple[str, float]] = field(default_factory=list)  # (item_id, score), best first

    def as_dict(self) -> dict:
        return {
            "user_id": self.user_id,
            "known": self.known,
            "history": self.history,
            "items": [{"item_id": item, "score": round(score, 4)} for item, score in self.items],
        }


def pick_version(root: Location, version: str | None) -> str:
    """``version`` if saved under ``root``; by default the newest version the gate passed."""
    saved = artifacts.saved_versions(root)
    if version is not None:
        if version not in saved:
            raise ArtifactLookupError(f"no artifact of version {version} under {root} (saved: {len(saved)})")
        return version
    passed = [v for v in saved if artifacts.load_meta(root, v).status == "passed"]
    if not passed:
        raise ArtifactLookupError(f"no model under {root} passed the quality gate: run `recs run` first")
    return passed[-1]


def recommend(
    art: artifacts.Artifact, users: list[str], k: int, warehouse: Path | None = None
) -> list[UserLists]:
    """Each user's k best items by ``art``'s factors, leaving out what the warehouse says they touched."""
    return lists_for(art.model, art.user_ids, art.item_ids, users, k, warehouse)


def lists_for(
    model, user_ids: np.ndarray, item_ids: np.ndarray, users: list[str], k: int, warehouse: Path | None = None
) -> list[UserLists]:
    """``recommend`` for any fitted factor model whose rows are ``user_ids`` and ``item_ids``."""
    touched = _history(warehouse, users)
    row_of = {user: i for i, user in enumerate(user_ids.tolist())}
    col_of = {item: j for j, item in enumerate(item_ids.tolist())}
    factors, item_factors = model.user_factors, model.item_factors
    out = []
    for user in users:
        history = touched.get(user, [])
        if user not in row_of:
            out.append(UserLists(user, known=False, history=history[:HISTORY_ITEMS]))
            continue
        scores = np.asarray(item_factors @ factors[row_of[user]], dtype=np.float64)
        seen = [col_of[item] for item in history if item in col_of]
        scores[seen] = -np.inf
        best = np.lexsort((np.arange(len(scores)), -scores))[:k]
        items = [(str(item_ids[j]), float(scores[j])) for j in best if np.isfinite(scores[j])]
        out.append(UserLists(user, known=True, history=history[:HISTORY_ITEMS], items=items))
    return out


def _history(warehouse: Path | None, users: list[str]) -> dict[str, list[str]]:
    """Each user's distinct items in the warehouse, the most recently touched first."""
    if warehouse is None or not Path(warehouse).exists():
        return {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            """SELECT user_id, item_id FROM raw_events WHERE user_id IN (SELECT unnest($users))
               GROUP BY user_id, item_id ORDER BY user_id, max(ts) DESC, item_id""",
            {"users": users},
        ).fetchall()
    found: dict[str, list[str]] = {}
    for user, item in rows:
        found.setdefault(user, []).append(item)
    return found


def item_names(path: Path | None) -> dict[str, str]:
    """Item names from a CSV with ``item_id`` and ``name`` columns; empty without a file."""
    if path is None:
        return {}
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"item_id", "name"} <= set(reader.fieldnames):
                raise ArtifactLookupError(
                    f"names file {path} needs item_id and name columns, found {reader.fieldnames}"
                )
            return {row["item_id"]: row["name"] for row in reader}
    except FileNotFoundError:
        raise ArtifactLookupError(f"names file {path} does not exist") from None


def render(lists: UserLists, names: dict[str, str], version: str) -> str:
    """The human view: history and list, with names where known."""

    def named(item: str) -> str:
        return f"{item} {names[item]}" if item in names else item

    lines = [f"user {lists.user_id}  (model {version})"]
    if lists.history:
        lines.append("  touched: " + "; ".join(named(item) for item in lists.history))
    if not lists.known:
        lines.append("  not in this model: the API answers the popular fallback")
    for rank, (item, score) in enumerate(lists.items, 1):
        lines.append(f"  {rank:>3}. {item:<10} {names.get(item, ''):<40.40} score {score:.3f}")
    return "\n".join(lines)
