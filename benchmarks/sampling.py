"""Benchmark: the holdout evaluation and the parameter search on a seeded sample of users, next to
the same work on every user, in the same run.

    python -m benchmarks.sampling [--scale small|medium|large] [--cap N] [--budget S] [--json]

On the synthetic log of ``scale``, a random holdout (20% of each user's items, seed 0):

- evaluation: the flow's ``evaluate.evaluate_candidate`` for a model fitted with the default
  parameters, and for a weak one (1 factor, 1 iteration), on every held-out user and on a seeded
  sample of ``cap`` of them (``eval_max_users``); per list its NDCG@10 with the 95% interval,
  and the quality gate's decision (``gate.decide``, default settings, nothing served) each way;
- search: ``tune.tune`` with a budget of ``budget`` seconds on every training user and on a
  seeded sample of ``cap`` (``tuning.max_users``), each winner then fitted on the whole training
  part and measured on every held-out user: what sampling the search costs in quality.

``ratio`` is the sampled side's seconds over the whole side's.
"""

from __future__ import annotations

import argparse
import time

from benchmarks import print_records
from benchmarks.proc import peak_rss_mb, record
from pipeline.data.splits import Holdout, split_per_user
from pipeline.model import evaluate, gate, train, tune
from pipeline.settings import ALSParams, PipelineSettings, TuningSettings

WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}
K = 10


def _timed(work, *args, **kwargs):
    started = time.perf_counter()
    found = work(*args, **kwargs)
    return found, time.perf_counter() - started


def headline(evaluation: evaluate.Evaluation) -> dict[str, dict]:
    """Each list's NDCG@k, its 95% interval and the users it was measured on."""
    key = evaluation.headline
    return {
        name: {key: round(m[key], 5), "ci95": round(m[f"{key}_ci95"], 5), "users": m["users"]}
        for name, m in evaluation.overall.items()
    }


def evaluation_records(holdout: Holdout, cap: int, settings: PipelineSettings) -> list[dict]:
    """A default model and a weak one, measured and gated on every held-out user and on the sample."""
    weak = ALSParams(factors=1, regularization=1000.0, alpha=0.01, iterations=1)
    records = []
    for label, params in (("default parameters", ALSParams()), ("weak: 1 factor, 1 iteration", weak)):
        model = train.fit(holdout.train, params)
        whole, whole_s = _timed(evaluate.evaluate_candidate, model, holdout, K, settings.eval_ks)
        sample, sample_s = _timed(
            evaluate.evaluate_candidate, model, holdout, K, settings.eval_ks, max_users=cap, seed=0
        )
        records.append(
            record(
                f"evaluation on {cap} sampled users vs every held-out user, model of {label}",
                sample_s, whole_s, peak_rss_mb(), held_out_users=len(holdout.test_users),
                sample=headline(sample), whole=headline(whole),
                gate_on_sample=gate.decide(sample, settings, None).passed,
                gate_on_whole=gate.decide(whole, settings, None).passed,
            )
        )  # fmt: skip
    return records


def search_records(holdout: Holdout, cap: int, budget: float) -> list[dict]:
    """The search on the sample and on every user, each winner fitted and measured on the holdout."""
    found = {}
    for side, users in (("whole", None), ("sample", cap)):
        settings = TuningSettings(max_seconds=budget, max_users=users)
        searched, seconds = _timed(tune.tune, holdout.train, settings, K, ALSParams())
        model = train.fit(holdout.train, searched.best)
        measured = evaluate.measure(
            {"model": evaluate.model_lists(model, holdout, holdout.test_users, K)},
            holdout, holdout.test_users, K,
        )  # fmt: skip
        states = [t["state"] for t in searched.trials]
        found[side] = {
            "seconds": seconds, "trials": {s: states.count(s) for s in sorted(set(states))},
            "stopped_by_budget": sum(bool(t.get("stopped_by_budget")) for t in searched.trials),
            "winner": searched.best.model_dump(), "holdout": headline(measured)["model"],
        }  # fmt: skip
    return [
        record(
            f"search on {cap} sampled users vs every training user, {budget:.0f} s budget each",
            found["sample"]["seconds"], found["whole"]["seconds"], peak_rss_mb(),
            users=holdout.train.shape[0], sample=found["sample"], whole=found["whole"],
        )
    ]  # fmt: skip


def run(scale: str = "small", cap: int = 50_000, budget: float = 90.0) -> list[dict]:
    """Stage records (benchmarks/__init__.py) of both comparisons on the synthetic log of ``scale``."""
    from infra.local.synthetic import SCALES, interactions

    holdout = split_per_user(interactions(SCALES[scale], WEIGHTS), 0.2, seed=0)
    return evaluation_records(holdout, cap, PipelineSettings()) + search_records(holdout, cap, budget)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sampling", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--cap", type=int, default=50_000, help="users in the sample (default 50,000)")
    parser.add_argument("--budget", type=float, default=90.0, help="the search's seconds (default 90)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the records")
    args = parser.parse_args(argv)
    print_records(run(args.scale, args.cap, args.budget), args.json)


if __name__ == "__main__":
    main()
