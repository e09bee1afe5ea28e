"""Train: implicit's ALS on the interaction matrix, saved as a versioned artifact.

The CPU/GPU choice is made in one place, ``make_als``; callers never branch on the device.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass

import implicit.als
import implicit.gpu
import numpy as np
import pandas as pd
from implicit.cpu.als import AlternatingLeastSquares
from implicit.recommender_base import ModelFitError
from threadpoolctl import threadpool_limits

from pipeline.data.interactions import Interactions
from pipeline.errors import PipelineError
from pipeline.model.device import IMPLICIT_GPU_NEEDS, cuda_probe
from pipeline.model.scaling import scaled
from pipeline.settings import ALSParams

log = logging.getLogger(__name__)


class TrainingError(PipelineError):
    """A fit produced a model that must not be used."""


def gpu_available() -> bool:
    """Whether implicit can train on a GPU here (its build, RMM and a device; ``device`` has the why)."""
    return bool(implicit.gpu.HAS_CUDA)


def gpu_problem() -> str:
    """Why implicit cannot train on a GPU here: no device, or a device implicit cannot use."""
    probe = cuda_probe()
    return probe.problem or f"{probe.devices} CUDA device(s) here, but {IMPLICIT_GPU_NEEDS}"


@functools.cache
def _warn_of_an_unused_gpu() -> None:
    log.warning("training ALS on the CPU although a CUDA device is here: %s", gpu_problem())


def make_als(params: ALSParams, use_gpu: bool | None = None):
    """implicit's ALS on the GPU when one is usable (or asked for), else on the CPU.

    ``use_gpu=None`` picks the GPU when implicit can use one (and warns, once, with the cause when
    a CUDA device is here that it cannot use); ``True`` without a GPU raises rather than silently
    training on the CPU.
    """
    if use_gpu and not gpu_available():
        raise TrainingError(f"use_gpu=True but implicit has no CUDA support on this machine: {gpu_problem()}")
    on_gpu = gpu_available() if use_gpu is None else use_gpu
    if use_gpu is None and not on_gpu and cuda_probe().devices:
        _warn_of_an_unused_gpu()
    log.info("training ALS on the %s", "GPU" if on_gpu else "CPU")
    return implicit.als.AlternatingLeastSquares(
        factors=params.factors,
        regularization=params.regularization,
        alpha=params.alpha,
        iterations=params.iterations,
        random_state=params.random_state,
        use_gpu=on_gpu,
    )


@dataclass(frozen=True)
class WarmStart:
    """An earlier fit to start from: its model and the ids of its factors' rows.

    The holdout model is this for the served model: same users and items, fewer interactions.
    """

    model: AlternatingLeastSquares
    user_ids: np.ndarray
    item_ids: np.ndarray
    iterations: int  # ALS iterations on top of the earlier fit's


def warm_factors(warm: WarmStart, data: Interactions, params: ALSParams) -> tuple[np.ndarray, np.ndarray]:
    """The earlier fit's factors aligned to ``data``'s ids; ids it never saw get implicit's own
    random start (uniform in [0, 0.01))."""
    if warm.model.factors != params.factors:
        raise TrainingError(
            f"warm start needs a model of {params.factors} factors, the earlier fit has {warm.model.factors}"
        )
    rng = np.random.default_rng(params.random_state)
    aligned = []
    for ids, known, factors in (
        (data.user_ids, warm.user_ids, warm.model.user_factors),
        (data.item_ids, warm.item_ids, warm.model.item_factors),
    ):
        rows = pd.Index(known).get_indexer(ids)
        start = (rng.random((len(ids), params.factors)) * 0.01).astype(np.float32)
        start[rows >= 0] = np.asarray(factors, dtype=np.float32)[rows[rows >= 0]]
        aligned.append(start)
    return aligned[0], aligned[1]


def fit(
    data: Interactions,
    params: ALSParams,
    use_gpu: bool | None = None,
    on_iteration: Callable[[AlternatingLeastSquares, int], object] | None = None,
    warm: WarmStart | None = None,
) -> AlternatingLeastSquares:
    """Fit ALS on ``data.user_items`` (scaled by ``params.scaling``) and return a CPU model, checked
    for NaNs. ``on_iteration(model, iterations_done)`` runs after each iteration (through implicit's
    fit callback); what it raises ends the fit.

    ``warm``: start from an earlier fit's factors and run ``warm.iterations`` instead of
    ``params.iterations`` (implicit fits a model whose factors are set further). On the GPU
    the fit starts cold (logged): the GPU fit is the fast one anyway.

    BLAS is held to one thread during the fit: implicit parallelises over users
    itself, and a multi-threaded BLAS underneath it only contends (1.4-3.7x slower).
    implicit's progress bar shows on a terminal and stays out of logs.
    """
    if not np.isfinite(data.user_items.data).all():
        raise TrainingError("user_items holds non-finite weights: every interaction weight must be finite")
    with threadpool_limits(1, "blas"):
        model = make_als(params, use_gpu)
        if warm is not None and hasattr(model, "to_cpu"):
            log.warning(
                "warm start is CPU only: fitting %d iterations from scratch on the GPU", params.iterations
            )
        elif warm is not None:
            model.iterations = warm.iterations
            model.user_factors, model.item_factors = warm_factors(warm, data, params)
        callback = None if on_iteration is None else lambda iteration, *_: on_iteration(model, iteration + 1)
        progress = on_iteration is None and sys.stderr.isatty()  # a search's trials draw their own bar
        try:
            model.fit(scaled(data.user_items, params.scaling), show_progress=progress, callback=callback)
        except ModelFitError as err:
            raise TrainingError(
                f"ALS fit with {params} failed ({err}); lower alpha or raise regularization"
            ) from err
    if hasattr(model, "to_cpu"):
        model = model.to_cpu()
    for name in ("user_factors", "item_factors"):
        if not np.isfinite(getattr(model, name)).all():
            raise TrainingError(f"ALS fit produced non-finite {name}; lower alpha or raise regularization")
    return model
