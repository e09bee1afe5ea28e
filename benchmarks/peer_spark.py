"""Spark MLlib's ALS for the peer benchmark (benchmarks/peer.py): the session, the fit, the top-k,
and the exact conversions between our interactions and Spark's rating rows.

The conversions are plain numpy / pandas (tested without Spark, tests/benchmarks/test_peer.py):

- ``rating_rows``: an ``Interactions`` matrix as Spark's ``(user, item, rating)`` rows, where
  ``user`` and ``item`` are our matrix's row and column indices (int32, as Spark's ALS wants)
  and ``rating`` the stored weight, one row per stored pair;
- ``factor_matrix``: Spark's ``userFactors`` / ``itemFactors`` rows ``(id, features)`` back as a
  dense ``(n, rank)`` float32 matrix indexed like ours (a row Spark has no factors for, a user
  or item with no training pair, stays zero: it scores 0 everywhere, as it has nothing to go on);
- ``ranked_lists``: ``recommendForAllUsers``'s rows ``(user, [item, ...])`` as a ``(n_users, k)``
  int32 matrix of our item indices, ``-1`` padding (our ``TopK.ids`` layout), so that
  ``item_ids[lists]`` names them.

pyspark is optional (the ``peer`` extra); it is imported inside the functions that need it, and
its absence is a ``PeerUnavailable`` naming the extra.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.data.interactions import Interactions
from pipeline.errors import PipelineError

INSTALL = "pip install -e '.[peer]' (pyspark; Java 17+ on the PATH)"


class PeerUnavailable(PipelineError):
    """pyspark (or the Java it drives) is not there: the peer benchmark cannot run."""


@dataclass(frozen=True)
class SparkParams:
    """Spark's ALS parameters (implicitPrefs=True). ``reg_param`` is on Spark's scale: Spark
    multiplies it by each user's (item's) number of ratings, implicit does not."""

    rank: int
    reg_param: float
    alpha: float
    max_iter: int = 15
    seed: int = 42


@dataclass(frozen=True)
class SparkEngine:
    """How Spark runs: ``local[cores]`` with ``blocks`` user and item blocks for ALS and as many
    shuffle partitions (Spark's 200 default is for clusters, not 2 cores)."""

    cores: int = 2
    blocks: int = 4
    driver_memory: str = "4g"


# --- exact conversions (no Spark needed) -------------------------------------------------------


def rating_rows(data: Interactions) -> pd.DataFrame:
    """One ``(user, item, rating)`` row per stored pair of ``data.user_items``: row and column
    indices as int32, the weight as float32."""
    coo = data.user_items.tocoo()
    if data.shape[0] > np.iinfo(np.int32).max or data.shape[1] > np.iinfo(np.int32).max:
        raise ValueError(f"Spark's ALS takes int32 ids; a {data.shape} matrix does not fit")
    return pd.DataFrame(
        {
            "user": coo.row.astype(np.int32),
            "item": coo.col.astype(np.int32),
            "rating": coo.data.astype(np.float32),
        }
    )


def factor_matrix(ids: np.ndarray, features: list | np.ndarray, n: int, rank: int) -> np.ndarray:
    """Spark's factor rows (``ids[j]`` has ``features[j]``) as a dense ``(n, rank)`` float32 matrix;
    rows without factors stay zero. Raises on an id outside ``[0, n)`` or a repeated id."""
    ids = np.asarray(ids, dtype=np.int64)
    out = np.zeros((n, rank), dtype=np.float32)
    if len(ids) == 0:
        return out
    if ids.min() < 0 or ids.max() >= n:
        raise ValueError(f"factor ids must lie in [0, {n}), got {ids.min()}..{ids.max()}")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("factor ids must be unique: Spark returned one id twice")
    out[ids] = np.asarray(np.stack([np.asarray(f, dtype=np.float32) for f in features]), dtype=np.float32)
    return out


def ranked_lists(users: np.ndarray, items: list | np.ndarray, n_users: int, k: int) -> np.ndarray:
    """``recommendForAllUsers`` rows (``users[j]`` gets the ranked item indices ``items[j]``) as an
    ``(n_users, k)`` int32 matrix, ``-1`` where a user has fewer than k (or no row)."""
    out = np.full((n_users, k), -1, dtype=np.int32)
    for user, ranked in zip(np.asarray(users, dtype=np.int64), items, strict=True):
        ranked = np.asarray(ranked, dtype=np.int32)[:k]
        out[user, : len(ranked)] = ranked
    return out


# --- Spark --------------------------------------------------------------------------------------


def session(engine: SparkEngine, workdir: Path) -> Any:
    """A local Spark session on ``engine.cores`` cores (quiet, no UI, Arrow for pandas)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as err:
        raise PeerUnavailable(f"the peer benchmark needs pyspark, which is not installed: {INSTALL}") from err
    try:
        spark = (
            SparkSession.builder.master(f"local[{engine.cores}]")
            .appName("recs-peer-benchmark")
            .config("spark.driver.memory", engine.driver_memory)
            .config("spark.sql.shuffle.partitions", str(engine.blocks))
            .config("spark.default.parallelism", str(engine.blocks))
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.local.dir", str(workdir))
            .getOrCreate()
        )
    except Exception as err:  # py4j's: Java missing or too old; say what the benchmark needs
        raise PeerUnavailable(f"Spark did not start ({err}); the peer benchmark needs {INSTALL}") from err
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(str(workdir / "checkpoints"))
    return spark


def ratings_frame(spark: Any, data: Interactions, engine: SparkEngine) -> Any:
    """``data`` as a cached Spark DataFrame of rating rows, materialised (not part of any timing)."""
    frame = spark.createDataFrame(rating_rows(data)).repartition(engine.blocks).cache()
    frame.count()
    return frame


def fit(ratings: Any, params: SparkParams, engine: SparkEngine) -> tuple[Any, float]:
    """(Spark's ALS model fitted on ``ratings``, wall seconds of the fit with its factors materialised)."""
    from pyspark.ml.recommendation import ALS

    als = ALS(
        rank=params.rank,
        regParam=params.reg_param,
        alpha=params.alpha,
        maxIter=params.max_iter,
        seed=params.seed,
        implicitPrefs=True,
        userCol="user",
        itemCol="item",
        ratingCol="rating",
        numUserBlocks=engine.blocks,
        numItemBlocks=engine.blocks,
    )
    started = time.perf_counter()
    model = als.fit(ratings)
    model.userFactors.count()  # the factors are computed by now; counting makes sure
    model.itemFactors.count()
    return model, time.perf_counter() - started


def factors(model: Any, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(user factors, item factors) of a fitted Spark model, indexed like our matrix of ``shape``."""
    out = []
    for frame, n in ((model.userFactors, shape[0]), (model.itemFactors, shape[1])):
        rows = frame.toPandas()
        out.append(factor_matrix(rows["id"].to_numpy(), list(rows["features"]), n, model.rank))
    return out[0], out[1]


def top_k_all_users(model: Any, k: int) -> float:
    """Wall seconds of ``recommendForAllUsers(k)`` computed for every user (written to Spark's
    ``noop`` sink: the whole computation, none of the collecting to Python)."""
    started = time.perf_counter()
    model.recommendForAllUsers(k).write.format("noop").mode("overwrite").save()
    return time.perf_counter() - started


def collected_lists(model: Any, k: int, n_users: int) -> np.ndarray:
    """``recommendForAllUsers(k)`` collected as ``ranked_lists`` (our item indices, -1 padding)."""
    from pyspark.sql import functions as F

    rows = model.recommendForAllUsers(k).select("user", F.col("recommendations.item").alias("items"))
    frame = rows.toPandas()
    return ranked_lists(frame["user"].to_numpy(), list(frame["items"]), n_users, k)


def jvm_peak_rss_mb(spark: Any) -> float | None:
    """Peak RSS (VmHWM) of Spark's JVM, from /proc; None where that is not readable."""
    process = getattr(spark.sparkContext._gateway, "proc", None)
    status = Path(f"/proc/{process.pid}/status") if process is not None else None
    if status is None or not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None
