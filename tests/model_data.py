"""Small real datasets for the model tests (evaluate, tune, train, artifact, report, gate)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from infra.local import synthetic
from pipeline.data.interactions import Interactions
from pipeline.model.artifact import ArtifactMeta
from pipeline.model.evaluate import Evaluation
from pipeline.model.gate import GateDecision
from pipeline.model.tune import TuningRecord
from pipeline.settings import ALSParams

# dense enough that ALS beats most-popular, and a 1-factor, 1-iteration ALS does not
TINY = synthetic.SyntheticSpec(
    events=20_000, users=400, items=200, days=10, clusters=8, taste=0.9, popularity_exponent=0.8
)
WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}


def synthetic_interactions(spec: synthetic.SyntheticSpec = TINY) -> Interactions:
    """``spec``'s events summed into a (user, item, weight) matrix."""
    return synthetic.interactions(spec, WEIGHTS)


def pairs(matrix) -> set[tuple[int, int]]:
    """The (row, column) pairs of a sparse matrix's stored non-zero entries."""
    coo = matrix.tocoo()
    keep = coo.data != 0
    return set(zip(coo.row[keep].tolist(), coo.col[keep].tolist(), strict=True))


def relevant(n_items: int, *rows: list[int]) -> sp.csr_matrix:
    dense = np.zeros((len(rows), n_items))
    for r, items in enumerate(rows):
        dense[r, items] = 1
    return sp.csr_matrix(dense)


def meta_for(version: str, **fields) -> ArtifactMeta:
    """An artifact meta with small but complete contents; ``fields`` replace any of them."""
    params = ALSParams(factors=8, regularization=1.0, alpha=2.0, iterations=4)
    values = {
        "version": version,
        "status": "passed",
        "params": params,
        "configured_params": params,
        "tuning": TuningRecord(source="configured", best=params),
        "evaluation": Evaluation(
            k=10, ks=[10], overall={"model": {"ndcg@10": 0.3}, "popular": {"ndcg@10": 0.1}}
        ),
        "gate": GateDecision(passed=True, reason="ndcg@10 0.3000 passes"),
        "data_fingerprint": "400x200:1000:0123456789abcdef",
        "k": 10,
        "code_version": "recs 0.1.0",
        "libraries": {"python": "3.11"},
    }
    return ArtifactMeta(**(values | fields))
