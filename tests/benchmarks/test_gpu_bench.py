"""The prepared GPU run (benchmarks/gpu.py), checked on the CPU: a device's window is short."""

from __future__ import annotations

import numpy as np

from benchmarks import gpu
from pipeline.settings import PipelineSettings


def test_the_gpu_run_measures_every_iteration_and_a_top_k_rate_on_the_cpu(capsys):
    fit, ranked = gpu.run("tiny", "cpu", cpu_users=200, k=10)
    assert fit["iterations"] == PipelineSettings().als.iterations  # one callback per iteration
    assert 0 < fit["seconds"] <= fit["fit_seconds"] and fit["baseline_seconds"] > 0
    assert fit["users"] > 200 and fit["nnz"] > fit["users"]
    assert ranked["seconds"] > 0 and "200 users" in ranked["name"]
    printed = capsys.readouterr().out  # each record as it comes, before the run ends
    assert printed.count("ALS iteration (cpu)") == 1 and printed.count("top-10 for every user") == 1


def test_agreement_is_the_share_of_each_rows_items_listed_by_both():
    a = np.array([[1, 2, 3, 4], [5, 6, -1, -1]])
    assert gpu.agreement(a, a) == 1.0
    assert gpu.agreement(a, np.array([[4, 3, 9, 8], [7, 8, -1, -1]])) == 0.25  # (2/4 + 0/2) / 2
