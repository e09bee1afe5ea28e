"""Training: one factory picks the device; a GPU that is not there raises; broken fits raise."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

from pipeline.data.interactions import Interactions
from pipeline.model import artifact, train
from pipeline.precompute import recommend
from pipeline.settings import ALSParams
from tests.model_data import synthetic_interactions

PARAMS = ALSParams(factors=8, regularization=1.0, alpha=2.0, iterations=3)
needs_cuda = pytest.mark.skipif(not train.gpu_available(), reason="implicit has no CUDA on this machine")
no_cuda = pytest.mark.skipif(train.gpu_available(), reason="this machine has CUDA")


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


@needs_cuda
def test_a_gpu_fit_saves_the_same_cpu_artifact(tmp_path):
    data = synthetic_interactions()
    model = train.fit(data, PARAMS, use_gpu=True)
    assert isinstance(model, AlternatingLeastSquares)  # converted to the CPU before anyone sees it
    version = artifact.new_version()
    artifact.save(artifact.Artifact(version, model, data.user_ids, data.item_ids, {}), tmp_path)
    loaded = artifact.load(tmp_path, version)
    np.testing.assert_array_equal(
        recommend.top_k_for_users(model, data.user_items, 10).ids,
        recommend.top_k_for_users(loaded.model, data.user_items, 10).ids,
    )
