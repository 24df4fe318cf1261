"""pytest-benchmark suite for Gaussian mixtures on the DESIGN ``gmm`` problem.

    pytest benchmarks/bench_gmm.py                       # full size, timed
    pytest benchmarks/bench_gmm.py --benchmark-disable   # smoke run, small

The problem: 100000 x 32 (6250 rows of each of 16 well separated blobs),
K = 16, init ``random_from_data``, 20 EM iterations (tol=0).
"""
import warnings

import numpy as np
import pytest

import fastfactor as ff
from fastfactor import datasets, kernels

sklearn_gmm = pytest.importorskip("sklearn.mixture").GaussianMixture

COVARIANCE_TYPES = ["diag", "spherical", "tied", "full"]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def X(quick):
    return datasets.benchmark_problem("gmm", quick=quick)


def _params(covariance_type, max_iter=20):
    return dict(n_components=16, covariance_type=covariance_type, max_iter=max_iter, tol=0,
                init_params="random_from_data", random_state=0)


@pytest.mark.parametrize("library", ["fastfactor", "sklearn"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gmm_fit(benchmark, X, quick, library, covariance_type):
    cls = ff.GaussianMixture if library == "fastfactor" else sklearn_gmm
    params = _params(covariance_type, max_iter=2 if quick else 20)
    model = benchmark(lambda: cls(**params).fit(X))
    assert np.isfinite(model.lower_bound_)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_step_kernel_threads(benchmark, X, covariance_type, n_threads):
    """One fused EM pass (E-step and M-step statistics) over the whole problem."""
    gm = ff.GaussianMixture(**_params(covariance_type, max_iter=1)).fit(X)
    args = (X, gm.weights_, gm.means_, gm.precisions_cholesky_, covariance_type)
    center = X.mean(axis=0)
    out = benchmark(lambda: kernels.gmm_em_step(*args, center=center, n_threads=n_threads))
    assert np.isfinite(out[0])


def test_predict_proba(benchmark, X):
    gm = ff.GaussianMixture(**_params("diag", max_iter=2)).fit(X)
    big = np.tile(X, (2, 1))
    resp = benchmark(lambda: gm.predict_proba(big))
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
