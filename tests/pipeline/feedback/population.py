"""Synthetic per-user outcomes of an experiment arm: users see a few answers each and click
through at their own rate (so impressions of one user are correlated, as they are live)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.feedback.stats import ArmSample


def arm(rng: np.random.Generator, users: int, mean_ctr: float = 0.2, lift: float = 0.0) -> ArmSample:
    """``users`` users: impressions 1 to 20 each, a per-user click-through drawn around ``mean_ctr``
    times ``1 + lift``, clicks binomial from it."""
    shown = rng.integers(1, 21, users)
    rate = np.clip(rng.beta(2, 2 / mean_ctr - 2, users) * (1 + lift), 0, 1)
    return ArmSample(rng.binomial(shown, rate).astype(float), shown.astype(float))


def unit_rows(experiment: str, samples: dict[str, ArmSample], version: dict[str, str]) -> pd.DataFrame:
    """The samples as ``attribution.per_unit`` rows of one experiment."""
    rows = [
        {"version": version[name], "experiment": experiment, "arm": name, "source": "personal",
         "unit": f"user:{name}-{k}", "impressions": x, "clicks": y, "conversions": 0, "revenue": 0.0,
         "priced": 0, "rank_sum": 0, "ranked": 0}
        for name, sample in samples.items()
        for k, (y, x) in enumerate(zip(sample.y, sample.x, strict=True))
    ]  # fmt: skip
    return pd.DataFrame(rows)
