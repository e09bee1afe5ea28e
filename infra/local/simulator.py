"""A simulated population: users of a latent-taste log (``synthetic.Tastes``) who answer the lists
they are shown with views and purchases drawn from their true affinity.

``Population.answer(Shown(user, items, at, rec_id))`` returns the events that user makes after
seeing the list, in the project's event schema (``SimEvent.as_row``), ready to land as a raw log.
The click model is position-based, as live users behave:

- the item at rank ``r`` (1 = first) is looked at with probability ``1 / log2(r + 1)``;
- a looked-at item is viewed with probability ``sigmoid(base_click_logit + interest)``, its
  interest being the taste part of the true affinity (``users[u] . items[i]``) plus
  ``popularity_weight`` times how far the item's popularity is above the average (popularity in
  the log is partly exposure, not taste); a list that ranks what the user truly likes first
  therefore gets more views than a random or a merely popular one;
- a viewed item is bought with probability ``sigmoid(base_click_logit + interest - purchase_gap)``.

Ids are the synthetic log's (``u{n}``, ``sku-{n}``); a user or item the population does not know
makes no event. Deterministic given the seed and the order of calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from infra.local.synthetic import SyntheticSpec, Tastes, tastes


@dataclass(frozen=True)
class Behaviour:
    base_click_logit: float = -2.0  # an average item, looked at, is viewed with sigmoid(-2) = 12%
    popularity_weight: float = 0.3  # how much an item's popularity adds to its interest
    purchase_gap: float = 2.5  # a bought item is that much less likely than a viewed one, in log-odds
    rec_id_share: float = 1.0  # the share of events that carry the answer's rec_id back
    mean_delay_s: float = 120.0  # how long after the answer a view comes, on average


@dataclass(frozen=True)
class Shown:
    """A list the API showed a user."""

    user_id: str
    items: Sequence[str]
    at: datetime
    rec_id: str | None = None


@dataclass(frozen=True)
class SimEvent:
    user_id: str
    item_id: str
    event_type: str  # "view" or "purchase"
    ts: datetime
    rec_id: str | None

    def as_row(self) -> dict:
        return {
            "user_id": self.user_id,
            "item_id": self.item_id,
            "event_type": self.event_type,
            "ts": self.ts.isoformat(),
            "rec_id": self.rec_id,
        }


class Population:
    """The users of ``spec``'s latent tastes, answering lists."""

    def __init__(self, truth: Tastes, behaviour: Behaviour = Behaviour(), seed: int = 0) -> None:
        self.truth, self.behaviour = truth, behaviour
        self.rng = np.random.default_rng(seed)
        above_average = truth.popularity - truth.popularity.mean()
        self.item_logit = behaviour.base_click_logit + behaviour.popularity_weight * above_average

    def interest(self, user: int, items: np.ndarray) -> np.ndarray:
        """The log-odds that ``user`` views each of ``items`` once looked at."""
        return self.truth.users[user] @ self.truth.items[items].T + self.item_logit[items]

    @classmethod
    def of(cls, spec: SyntheticSpec, behaviour: Behaviour = Behaviour(), seed: int = 0) -> Population:
        return cls(tastes(spec), behaviour, seed)

    @property
    def user_ids(self) -> list[str]:
        return [f"u{n}" for n in range(len(self.truth.users))]

    def answer(self, shown: Shown) -> list[SimEvent]:
        """The events the user makes after seeing ``shown.items``, in time order."""
        user = _index(shown.user_id, "u", len(self.truth.users))
        known = [
            (rank, item_id, _index(item_id, "sku-", len(self.truth.items)))
            for rank, item_id in enumerate(shown.items, 1)
        ]
        known = [(rank, item_id, item) for rank, item_id, item in known if item is not None]
        if user is None or not known:
            return []
        ranks = np.array([r for r, _, _ in known], dtype=float)
        logit = self.interest(user, np.array([i for _, _, i in known]))
        looked = self.rng.random(len(known)) < 1 / np.log2(ranks + 1)
        viewed = looked & (self.rng.random(len(known)) < _sigmoid(logit))
        bought = viewed & (self.rng.random(len(known)) < _sigmoid(logit - self.behaviour.purchase_gap))
        carry = self.rng.random() < self.behaviour.rec_id_share
        rec_id = shown.rec_id if carry else None
        events = []
        for k in np.flatnonzero(viewed):
            at = shown.at + timedelta(seconds=float(self.rng.exponential(self.behaviour.mean_delay_s)) + 1)
            events.append(SimEvent(shown.user_id, known[k][1], "view", at, rec_id))
            if bought[k]:
                events.append(
                    SimEvent(shown.user_id, known[k][1], "purchase", at + timedelta(seconds=30), rec_id)
                )
        return sorted(events, key=lambda e: e.ts)

    def best_items(self, user_id: str, k: int) -> list[str]:
        """The ``k`` items the user is most likely to view: the list a perfect model would show."""
        user = _index(user_id, "u", len(self.truth.users))
        if user is None:
            raise ValueError(
                f"user {user_id!r} is not one of this population's (u0 to u{len(self.truth.users) - 1})"
            )
        order = np.argsort(-self.interest(user, np.arange(len(self.truth.items))), kind="stable")[:k]
        return [f"sku-{i}" for i in order]


def write_events(events: Iterable[SimEvent], path: Path) -> Path:
    """The events as a JSON-lines raw log (with ``rec_id``), for ingest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for event in events:
            f.write(json.dumps(event.as_row()) + "\n")
    return path


def _index(value: str, prefix: str, size: int) -> int | None:
    digits = value[len(prefix) :] if value.startswith(prefix) else ""
    if not digits.isdigit() or digits != str(int(digits)):  # "u007" is not u7
        return None
    found = int(digits)
    return found if found < size else None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))
