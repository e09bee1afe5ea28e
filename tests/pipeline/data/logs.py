"""Tiny hand-made event logs and files for the data tests, and the weights they are read with."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from pipeline.data.interactions import InteractionRules, load_matrix

WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0, "return": -5.0}
T0 = datetime(2026, 1, 1)


def log(*rows: tuple) -> pd.DataFrame:
    """Events from (user, item, event_type, day offset[, minute]) tuples."""
    return pd.DataFrame(
        [
            {
                "user_id": u,
                "item_id": i,
                "event_type": t,
                "ts": T0 + timedelta(days=d, minutes=m[0] if m else 0),
                "country": "GB" if u != "u9" else "DE",
            }
            for u, i, t, d, *m in rows
        ]
    )


def weights_of(con, rules: InteractionRules) -> dict[tuple[str, str], float]:
    """The interactions training reads, as {(user_id, item_id): weight}."""
    data = load_matrix(con, rules)
    coo = data.user_items.tocoo()
    return {
        (data.user_ids[r], data.item_ids[c]): round(float(w), 4)
        for r, c, w in zip(coo.row, coo.col, coo.data, strict=True)
    }


def events(n: int = 4, day: int = 1, users: str = "u", **overrides) -> pd.DataFrame:
    """``n`` good events on 2026-01-``day``; ``overrides`` replace whole columns."""
    frame = pd.DataFrame(
        {
            "user_id": [f"{users}{k % 2}" for k in range(n)],
            "item_id": [f"i{k}" for k in range(n)],
            "event_type": ["view", "cart", "purchase", "view"][:n] + ["view"] * max(0, n - 4),
            "ts": [datetime(2026, 1, day, 10, k) for k in range(n)],
            "quantity": [1.0] * n,
            "price": [2.5] * n,
            "country": ["GB"] * n,
        }
    )
    for column, values in overrides.items():
        frame[column] = values
    return frame


def write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True, date_format="iso")
    return path


def counts(con) -> tuple[int, int, int]:
    """(raw_events, quarantine, manifest) row counts."""
    return tuple(
        con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("raw_events", "quarantine", "manifest")
    )
