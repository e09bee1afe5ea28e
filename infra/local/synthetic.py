"""Synthetic event logs at any size, deterministic given a seed.

Items have power-law popularity and belong to taste clusters; each user has a
favourite cluster and an activity level drawn from a heavy-tailed distribution,
so there are a few very heavy users and many light ones. Most events are views,
some add-to-carts, few purchases. Logs are written as one Parquet file per day,
in the project's event schema.

With ``latent_dim`` set, users and items instead have latent tastes (``Tastes``): vectors whose
dot product, plus the item's popularity, is each pair's true affinity, and a user's events pick
items by it. A model can then be told apart from another by how well it recovers the affinity,
and the simulator (``infra.local.simulator``) answers shown lists from the same tastes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.data.interactions import Interactions, matrix_from_pairs

EVENT_TYPES = np.array(["view", "cart", "purchase"])
EVENT_SHARES = np.array([0.80, 0.14, 0.06])
COUNTRIES = np.array(["GB", "DE", "FR", "NL", "ES", "IT", "SE", "PL"])


@dataclass(frozen=True)
class SyntheticSpec:
    events: int = 100_000
    users: int = 5_000
    items: int = 2_000
    days: int = 30
    clusters: int = 50
    taste: float = 0.7  # share of a user's events inside the favourite cluster
    popularity_exponent: float = 1.1
    seed: int = 0
    start: datetime = datetime(2026, 1, 1)
    latent_dim: int = 0  # > 0: items picked by the true affinity of latent tastes, not by clusters
    affinity_scale: float = 2.0  # the spread (std) of the taste part of the affinity


@dataclass(frozen=True)
class Tastes:
    """The truth behind a latent-taste log: ``affinity(u, i) = users[u] . items[i] + popularity[i]``,
    a log-odds of interest; a user's events pick items with probability proportional to its exp."""

    users: np.ndarray  # (users, latent_dim)
    items: np.ndarray  # (items, latent_dim)
    popularity: np.ndarray  # (items,) log of the item's power-law popularity

    def affinity(self, users: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
        """(len(users), len(items)) true affinities; every item when ``items`` is None."""
        chosen = self.items if items is None else self.items[items]
        bias = self.popularity if items is None else self.popularity[items]
        return self.users[users] @ chosen.T + bias


def tastes(spec: SyntheticSpec) -> Tastes:
    """The latent tastes of ``spec`` (deterministic given its seed, drawn apart from the events)."""
    if spec.latent_dim < 1:
        raise ValueError(f"latent tastes need latent_dim >= 1, got {spec.latent_dim}")
    rng = np.random.default_rng([spec.seed, 1])
    scale = (spec.affinity_scale**2 / spec.latent_dim) ** 0.25  # so that users . items has that std
    users = rng.normal(0, scale, (spec.users, spec.latent_dim))
    items = rng.normal(0, scale, (spec.items, spec.latent_dim))
    return Tastes(users, items, np.log(_zipf_weights(spec.items, spec.popularity_exponent, rng)))


def _items_by_taste(
    truth: Tastes, user: np.ndarray, rng: np.random.Generator, block: int = 1024
) -> np.ndarray:
    """An item for each event of ``user``, drawn from the softmax of the user's affinities."""
    item = np.empty(len(user), dtype=np.int64)
    n_items = len(truth.popularity)
    for start in range(0, len(truth.users), block):
        rows = np.arange(start, min(start + block, len(truth.users)))
        events = np.flatnonzero((user >= rows[0]) & (user <= rows[-1]))
        if not len(events):
            continue
        logits = truth.affinity(rows)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
        cum[:, -1] = 1.0
        row = user[events] - rows[0]
        # one searchsorted over every row's CDF at once: row r's CDF is shifted up by r
        flat = (cum + np.arange(len(rows))[:, None]).ravel()
        found = np.searchsorted(flat, row + rng.random(len(events)), side="right") - row * n_items
        item[events] = np.minimum(found, n_items - 1)
    return item


SCALES = {
    "tiny": SyntheticSpec(events=20_000, users=1_000, items=500, days=10),
    "small": SyntheticSpec(events=200_000, users=10_000, items=2_000, days=14),
    "medium": SyntheticSpec(events=2_000_000, users=100_000, items=20_000, days=30),
    "large": SyntheticSpec(events=20_000_000, users=500_000, items=50_000, days=30),
}


def _zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return rng.permutation(weights / weights.sum())


def generate_arrays(spec: SyntheticSpec) -> dict[str, np.ndarray]:
    """The events as column arrays (ts as int64 microseconds since the epoch)."""
    rng = np.random.default_rng(spec.seed)
    item_weight = _zipf_weights(spec.items, spec.popularity_exponent, rng)
    item_cluster = rng.integers(0, spec.clusters, spec.items)
    activity = rng.lognormal(mean=0.0, sigma=1.2, size=spec.users)
    user = rng.choice(spec.users, size=spec.events, p=activity / activity.sum())
    favourite = rng.integers(0, spec.clusters, spec.users)

    # popularity-weighted item within the user's favourite cluster, or anywhere
    order = np.lexsort((np.arange(spec.items), item_cluster))
    cluster_start = np.searchsorted(item_cluster[order], np.arange(spec.clusters + 1))
    within = item_weight[order]
    cum = np.zeros(spec.items + 1)
    np.cumsum(within, out=cum[1:])
    lo, hi = cluster_start[favourite[user]], cluster_start[favourite[user] + 1]
    u = rng.random(spec.events)
    picked = np.searchsorted(cum, cum[lo] + u * (cum[hi] - cum[lo]), side="right") - 1
    in_cluster = order[np.clip(picked, lo, np.maximum(hi - 1, lo))]
    anywhere = rng.choice(spec.items, size=spec.events, p=item_weight)
    item = np.where((rng.random(spec.events) < spec.taste) & (hi > lo), in_cluster, anywhere)
    if spec.latent_dim:
        item = _items_by_taste(tastes(spec), user, np.random.default_rng([spec.seed, 2]))

    start_us = int(spec.start.timestamp() * 1e6)
    ts = start_us + np.sort(rng.integers(0, spec.days * 86_400 * 10**6, spec.events))
    return {
        "user": user,
        "item": item,
        "event": rng.choice(len(EVENT_TYPES), size=spec.events, p=EVENT_SHARES),
        "ts": ts,
        "country": rng.integers(0, len(COUNTRIES), spec.users)[user],
    }


def user_ids(users: np.ndarray) -> np.ndarray:
    return np.char.add("u", users.astype(str))


def item_ids(items: np.ndarray) -> np.ndarray:
    return np.char.add("sku-", items.astype(str))


def interactions(spec: SyntheticSpec, weights: dict[str, float]) -> Interactions:
    """``spec``'s log summed into a user x item matrix with ``weights`` per event type, as the
    warehouse's interactions would be without ingesting it (ids as ``to_table`` writes them)."""
    cols = generate_arrays(spec)
    weight = np.array([weights.get(t, 0.0) for t in EVENT_TYPES], dtype=np.float32)[cols["event"]]
    keep = weight > 0
    return matrix_from_pairs(
        cols["user"][keep], cols["item"][keep], weight[keep], user_ids(np.arange(spec.users)),
        item_ids(np.arange(spec.items)),
    )  # fmt: skip


def to_table(cols: dict[str, np.ndarray], rows: slice = slice(None)) -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array(user_ids(cols["user"][rows])),
            "item_id": pa.array(item_ids(cols["item"][rows])),
            "event_type": pa.array(EVENT_TYPES[cols["event"][rows]]),
            "ts": pa.array(cols["ts"][rows], type=pa.timestamp("us")),
            "country": pa.array(COUNTRIES[cols["country"][rows]]),
        }
    )


def write_daily(spec: SyntheticSpec, out_dir: Path) -> list[Path]:
    """Write ``spec``'s log as ``out_dir/events-YYYY-MM-DD.parquet``; returns the files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cols = generate_arrays(spec)
    day_us = 86_400 * 10**6
    start_us = int(spec.start.timestamp() * 1e6)
    bounds = np.searchsorted(cols["ts"], start_us + day_us * np.arange(spec.days + 1))
    files = []
    for day in range(spec.days):
        rows = slice(bounds[day], bounds[day + 1])
        path = out_dir / f"events-{spec.start + timedelta(days=day):%Y-%m-%d}.parquet"
        pq.write_table(to_table(cols, rows), path)
        files.append(path)
    return files
