"""Training: one factory picks the device; a GPU that is not there raises; broken fits raise."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

from pipeline.data.interactions import Interactions
from pipeline.model import artifact, train
from pipeline.model.device import cuda_probe, probe_driver
from pipeline.precompute import recommend
from pipeline.settings import ALSParams
from tests.model_data import synthetic_interactions

PARAMS = ALSParams(factors=8, regularization=1.0, alpha=2.0, iterations=3)
# the hardware, asked of the NVIDIA driver (not implicit's build): the GPU test skips only without a device
needs_a_cuda_device = pytest.mark.skipif(
    not cuda_probe().devices, reason=f"no usable CUDA device: {cuda_probe().problem}"
)
no_cuda = pytest.mark.skipif(train.gpu_available(), reason="implicit can train on a GPU here")


def test_fit_returns_a_finite_cpu_model_of_the_data_shape():
    data = synthetic_interactions()
    model = train.fit(data, PARAMS)
    assert isinstance(model, AlternatingLeastSquares)
    assert model.user_factors.shape[0] == data.shape[0] and model.item_factors.shape[0] == data.shape[1]
    assert np.isfinite(model.user_factors).all()


def test_the_same_parameters_and_data_give_the_same_model():
    data = synthetic_interactions()
    a, b = train.fit(data, PARAMS), train.fit(data, PARAMS)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)


@no_cuda
def test_asking_for_a_gpu_that_is_not_there_raises():
    with pytest.raises(train.TrainingError, match="use_gpu=True but implicit has no CUDA support"):
        train.make_als(PARAMS, use_gpu=True)


@no_cuda
def test_without_cuda_the_factory_picks_the_cpu():
    assert isinstance(train.make_als(PARAMS), AlternatingLeastSquares)


def test_non_finite_weights_are_refused_before_fitting():
    m = sp.csr_matrix(np.array([[1.0, np.inf, 0], [0, 1.0, 1.0]], dtype=np.float32))
    with pytest.raises(train.TrainingError, match="user_items holds non-finite weights"):
        train.fit(Interactions(m, np.array(["a", "b"]), np.array(["x", "y", "z"])), PARAMS)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_a_fit_that_diverges_raises_a_named_error():
    # weights so large that the confidence overflows float32: implicit's fit ends in NaN factors
    m = sp.csr_matrix(np.array([[3e38, 3e38, 0], [0, 3e38, 3e38]], dtype=np.float32))
    with pytest.raises(train.TrainingError, match="lower alpha or raise regularization"):
        train.fit(Interactions(m, np.array(["a", "b"]), np.array(["x", "y", "z"])), PARAMS)


@needs_a_cuda_device
def test_on_a_cuda_machine_the_factory_trains_and_scores_on_the_gpu_and_the_artifact_serves_on_cpu(
    tmp_path, caplog
):
    # a device implicit cannot use is a broken install on a GPU machine: a failure, not a skip
    assert train.gpu_available(), (
        f"a CUDA device is here but implicit cannot train on it: {train.gpu_problem()}"
    )
    data = synthetic_interactions()
    assert hasattr(train.make_als(PARAMS), "to_cpu")  # the factory's own choice is implicit's GPU model
    caplog.set_level(logging.INFO, logger="pipeline.model.train")
    model = train.fit(data, PARAMS)  # the device left to the factory, as the flow does
    assert "training ALS on the GPU" in caplog.messages
    assert isinstance(model, AlternatingLeastSquares)  # converted to the CPU before anyone sees it
    # scored on the GPU by implicit, and on the CPU by the precompute: the same lists
    users = np.arange(data.shape[0])
    gpu_ids, gpu_scores = model.to_gpu().recommend(users, data.user_items, N=10)
    cpu = recommend.top_k_for_users(model, data.user_items, 10)
    np.testing.assert_allclose(gpu_scores, cpu.scores, rtol=1e-3, atol=1e-5)
    assert (np.asarray(gpu_ids) == cpu.ids).mean() > 0.99  # only near-ties may swap places
    # the artifact a GPU fit saves loads in a process without a GPU and serves the same lists
    version = artifact.new_version()
    artifact.save(artifact.Artifact(version, model, data.user_ids, data.item_ids, {}), tmp_path)
    loaded = artifact.load(tmp_path, version)
    assert isinstance(loaded.model, AlternatingLeastSquares)
    np.testing.assert_array_equal(loaded.model.item_factors, model.item_factors)
    np.testing.assert_array_equal(recommend.top_k_for_users(loaded.model, data.user_items, 10).ids, cpu.ids)


def test_the_driver_probe_names_why_there_is_no_device():
    missing = probe_driver("libcuda-not-here.so.1")
    assert (missing.devices, missing.problem.split(" (")[0]) == (
        0,
        "no NVIDIA driver: libcuda-not-here.so.1 cannot be loaded",
    )
    not_a_driver = probe_driver("libc.so.6")
    assert (not_a_driver.devices, not_a_driver.problem.split(" (")[0]) == (
        0,
        "libc.so.6 is not a CUDA driver",
    )


@pytest.mark.skipif(bool(cuda_probe().devices), reason="this machine has a CUDA device")
def test_without_a_device_a_gpu_asked_for_is_refused_naming_the_missing_driver():
    with pytest.raises(train.TrainingError, match="no CUDA support on this machine: no NVIDIA driver"):
        train.make_als(PARAMS, use_gpu=True)


def _subset(data: Interactions, users: np.ndarray, items: np.ndarray) -> Interactions:
    """The interactions of some users and items, in another order (as a holdout's train part)."""
    return Interactions(data.user_items[users][:, items].tocsr(), data.user_ids[users], data.item_ids[items])


def test_warm_factors_follow_the_ids_and_new_ids_start_small():
    data = synthetic_interactions()
    users, items = np.arange(data.shape[0])[::-1][:300], np.arange(data.shape[1])[50:]
    earlier = _subset(data, users, items)
    warm = train.WarmStart(train.fit(earlier, PARAMS), earlier.user_ids, earlier.item_ids, iterations=2)
    user_factors, item_factors = train.warm_factors(warm, data, PARAMS)
    assert user_factors.shape == (data.shape[0], 8) and item_factors.shape == (data.shape[1], 8)
    # user_ids[users[0]] (the last user) was the earlier fit's first row
    np.testing.assert_array_equal(user_factors[users[0]], warm.model.user_factors[0])
    np.testing.assert_array_equal(item_factors[items[7]], warm.model.item_factors[7])
    new_items = item_factors[:50]  # never seen by the earlier fit
    assert (new_items >= 0).all() and (new_items < 0.01).all()


def test_a_warm_fit_continues_the_earlier_fit():
    """Fitting 2 more iterations from a 3-iteration fit's factors is the 5-iteration fit."""
    data = synthetic_interactions()
    five = train.fit(data, PARAMS.model_copy(update={"iterations": 5}))
    warm = train.WarmStart(train.fit(data, PARAMS), data.user_ids, data.item_ids, iterations=2)
    continued = train.fit(data, PARAMS, warm=warm)
    np.testing.assert_allclose(continued.item_factors, five.item_factors, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(continued.user_factors, five.user_factors, rtol=1e-4, atol=1e-6)


def test_a_warm_start_of_other_factors_is_refused():
    data = synthetic_interactions()
    warm = train.WarmStart(train.fit(data, PARAMS), data.user_ids, data.item_ids, iterations=2)
    with pytest.raises(
        train.TrainingError, match="warm start needs a model of 16 factors, the earlier fit has 8"
    ):
        train.fit(data, PARAMS.model_copy(update={"factors": 16}), warm=warm)
