"""Confidence scaling: each kind keeps the matrix's pattern and changes its weights as stated."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from pipeline.model.scaling import scaled

M = sp.csr_matrix(np.array([[1.0, 0.0, 9.0], [2.0, 2.0, 0.0], [0.0, 0.0, 4.0]], dtype=np.float32))


def test_linear_is_the_matrix_itself():
    assert scaled(M, "linear") is M


def test_log_is_log1p_of_each_weight():
    out = scaled(M, "log")
    assert np.allclose(out.toarray(), np.log1p(M.toarray()))
    assert M.toarray()[0, 2] == 9.0  # the input is left as it was


def test_bm25_keeps_the_pattern_and_weighs_a_heavy_users_item_less_than_its_weight():
    out = scaled(M, "bm25")
    assert (out.toarray() > 0).tolist() == (M.toarray() > 0).tolist()
    # item 2 is used by two of three users, item 1 by one: at equal weight the rarer item counts more
    assert out[1, 1] > 0 and out[2, 2] > 0 and out[1, 1] / 2.0 > out[2, 2] / 4.0


def test_an_unknown_scaling_is_refused_by_name():
    with pytest.raises(ValueError, match="scaling must be one of"):
        scaled(M, "sqrt")  # type: ignore[arg-type]
