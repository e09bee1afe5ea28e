"""The simulated population: latent tastes that tell models apart, and users who answer the
lists they are shown from their true affinity."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from infra.local import synthetic
from infra.local.simulator import Behaviour, Population, Shown, write_events
from pipeline.model import train
from pipeline.settings import ALSParams

SPEC = synthetic.SyntheticSpec(events=30_000, users=400, items=300, days=10, latent_dim=8, seed=5)
AT = datetime(2026, 1, 11, 9, 0)
K = 10


def simulated_ctr(population: Population, lists: dict[str, list[str]], rounds: int = 3) -> float:
    """Views per shown item."""
    views = shown = 0
    for _ in range(rounds):
        for user, items in lists.items():
            shown += len(items)
            views += sum(e.event_type == "view" for e in population.answer(Shown(user, items, AT)))
    return views / shown


def test_the_default_generator_is_unchanged_and_tastes_drive_the_latent_one():
    plain = synthetic.generate_arrays(synthetic.SyntheticSpec(events=1000, users=50, items=20))
    assert plain["item"][:10].tolist() == [10, 10, 10, 6, 2, 18, 10, 1, 12, 2]  # as before latent tastes
    cols = synthetic.generate_arrays(SPEC)
    truth = synthetic.tastes(SPEC)
    chosen = truth.affinity(cols["user"], None)[np.arange(SPEC.events), cols["item"]]
    shuffled = truth.affinity(cols["user"], None)[
        np.arange(SPEC.events), np.random.default_rng(0).permutation(cols["item"])
    ]
    assert chosen.mean() > shuffled.mean() + 1.0  # users pick what they like, not just what is popular
    with pytest.raises(ValueError, match="latent tastes need latent_dim >= 1, got 0"):
        synthetic.tastes(synthetic.SyntheticSpec())


def test_a_taste_aware_list_gets_more_clicks_than_a_popular_or_a_random_one():
    population = Population.of(SPEC, seed=1)
    users = population.user_ids
    rng = np.random.default_rng(2)
    popular = [f"sku-{i}" for i in np.argsort(-population.truth.popularity)[:K]]
    best = simulated_ctr(population, {u: population.best_items(u, K) for u in users})
    by_popularity = simulated_ctr(population, dict.fromkeys(users, popular))
    random = simulated_ctr(
        population, {u: [f"sku-{i}" for i in rng.choice(SPEC.items, K, replace=False)] for u in users}
    )
    assert best > 2 * by_popularity and by_popularity > random, (best, by_popularity, random)


def test_models_can_be_told_apart_by_the_simulated_users():
    """ALS trained on the latent-taste log wins more clicks than the most-popular list."""
    data = synthetic.interactions(SPEC, {"view": 1.0, "cart": 3.0, "purchase": 5.0})
    model = train.fit(data, ALSParams(factors=16, iterations=10), use_gpu=False)
    ids, _ = model.recommend(
        np.arange(len(data.user_ids)), data.user_items, N=K, filter_already_liked_items=False
    )
    als = {data.user_ids[u]: [data.item_ids[i] for i in row] for u, row in enumerate(ids)}
    counts = np.asarray(data.user_items.sum(axis=0)).ravel()
    popular = [data.item_ids[i] for i in np.argsort(-counts)[:K]]
    population = Population.of(SPEC, seed=3)
    assert simulated_ctr(population, als) > simulated_ctr(population, dict.fromkeys(als, popular)) + 0.03


def test_answers_are_events_after_the_answer_in_the_event_schema(tmp_path):
    population = Population.of(SPEC, seed=4)
    events = [
        e
        for u in population.user_ids[:100]
        for e in population.answer(Shown(u, population.best_items(u, K), AT, f"r-{u}"))
    ]
    assert events and all(e.ts > AT and e.rec_id == f"r-{e.user_id}" for e in events)
    views = {(e.user_id, e.item_id) for e in events if e.event_type == "view"}
    purchases = [e for e in events if e.event_type == "purchase"]
    assert purchases and all((p.user_id, p.item_id) in views for p in purchases)  # a purchase follows a view
    path = write_events(events, tmp_path / "sim" / "day.jsonl")
    assert path.read_text().splitlines()[0].startswith('{"user_id": "u')


def test_the_same_seed_gives_the_same_answers_and_strangers_make_no_events():
    lists = [Shown(f"u{n}", ["sku-1", "sku-2", "sku-3"], AT, "r") for n in range(50)]
    one, two = Population.of(SPEC, seed=9), Population.of(SPEC, seed=9)
    assert [one.answer(s) for s in lists] == [two.answer(s) for s in lists]
    anyone = Population.of(SPEC, Behaviour(base_click_logit=20.0), seed=0)  # views everything looked at
    assert (
        anyone.answer(Shown("u999999", ["sku-1"], AT)) == []
        and anyone.answer(Shown("u07", ["sku-1"], AT)) == []
    )
    assert anyone.answer(Shown("u1", ["nope", "sku-999999"], AT)) == []
    assert [
        e.item_id for e in anyone.answer(Shown("u1", ["sku-1", "nope"], AT)) if e.event_type == "view"
    ] == ["sku-1"]
    dropped = Population.of(SPEC, Behaviour(base_click_logit=20.0, rec_id_share=0.0))
    assert all(e.rec_id is None for e in dropped.answer(Shown("u1", ["sku-1"], AT, "r1")))
    with pytest.raises(ValueError, match="user 'stranger' is not one of this population's"):
        one.best_items("stranger", 3)
