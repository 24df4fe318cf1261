"""pytest-benchmark suite for the truncated SVD (run: pytest benchmarks/bench_svd.py).

Uses the DESIGN `svd` problem (uniform 5000x3000, rank 50) and a
low-rank-plus-noise matrix for the rank-by-energy search. scikit-learn's
rows are skipped when it is not installed. For a side-by-side table with
reconstruction errors, run ``python benchmarks/compare_svd.py``.
"""
import os
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from fastfactor import TruncatedSVD, randomized_svd

pytest.importorskip("pytest_benchmark")
sys.path.insert(0, os.path.dirname(__file__))  # the problem makers live in compare_svd.py
from compare_svd import make_energy  # noqa: E402


@pytest.fixture(scope="module")
def svd_problem():
    return np.random.default_rng(0).random((5000, 3000))


@pytest.fixture(scope="module")
def sparse_problem():
    return sp.random(20000, 5000, density=0.01, format="csr", random_state=0)


@pytest.fixture(scope="module")
def energy_problem():
    return make_energy(quick=False)


def _sklearn():
    return pytest.importorskip("sklearn.utils.extmath").randomized_svd


@pytest.mark.benchmark(group="svd")
def test_svd_fastfactor(benchmark, svd_problem):
    benchmark.pedantic(randomized_svd, args=(svd_problem, 50), kwargs={"random_state": 0},
                       rounds=3)


@pytest.mark.benchmark(group="svd")
def test_svd_sklearn(benchmark, svd_problem):
    benchmark.pedantic(_sklearn(), args=(svd_problem, 50), kwargs={"random_state": 0},
                       rounds=3)


@pytest.mark.benchmark(group="svd")
def test_svd_fastfactor_float32(benchmark, svd_problem):
    X = svd_problem.astype(np.float32)
    benchmark.pedantic(randomized_svd, args=(X, 50), kwargs={"random_state": 0}, rounds=3)


@pytest.mark.benchmark(group="svd-sparse")
def test_sparse_fastfactor(benchmark, sparse_problem):
    benchmark.pedantic(randomized_svd, args=(sparse_problem, 50),
                       kwargs={"random_state": 0}, rounds=3)


@pytest.mark.benchmark(group="svd-sparse")
def test_sparse_sklearn(benchmark, sparse_problem):
    benchmark.pedantic(_sklearn(), args=(sparse_problem, 50), kwargs={"random_state": 0},
                       rounds=3)


@pytest.mark.benchmark(group="svd-energy")
def test_energy_rank_search(benchmark, energy_problem):
    benchmark.pedantic(randomized_svd, args=(energy_problem, 0.9),
                       kwargs={"random_state": 0}, rounds=3)


@pytest.mark.benchmark(group="svd-energy")
def test_energy_fixed_rank(benchmark, energy_problem):
    k = len(randomized_svd(energy_problem, 0.9, random_state=0)[1])
    benchmark.pedantic(randomized_svd, args=(energy_problem, k), kwargs={"random_state": 0},
                       rounds=3)


@pytest.mark.benchmark(group="truncated-svd")
def test_truncated_svd_sparse(benchmark, sparse_problem):
    benchmark.pedantic(TruncatedSVD(100, random_state=0).fit_transform,
                       args=(sparse_problem,), rounds=3)
