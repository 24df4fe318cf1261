"""pytest-benchmark suite for Gaussian mixtures on the DESIGN ``gmm`` problem.

    pytest benchmarks/bench_gmm.py                       # full size, timed
    pytest benchmarks/bench_gmm.py --benchmark-disable   # smoke run, small

The problem: 100000 x 32 (6250 rows of each of 16 well separated blobs),
K = 16, init ``random_from_data``, 20 EM iterations (tol=0).
"""
import numpy as np
import pytest

import fastfactor as ff
from fastfactor import datasets, kernels, reference

sklearn_gmm = pytest.importorskip("sklearn.mixture").GaussianMixture

COVARIANCE_TYPES = ["diag", "spherical", "tied", "full"]
K = 16


@pytest.fixture(scope="module")
def X(quick):
    return datasets.benchmark_problem("gmm", quick=quick)


def _params(covariance_type, max_iter=20):
    return dict(n_components=K, covariance_type=covariance_type, max_iter=max_iter, tol=0,
                init_params="random_from_data", random_state=0)


@pytest.mark.parametrize("library", ["fastfactor", "sklearn"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gmm_fit(benchmark, X, quick, library, covariance_type):
    params = _params(covariance_type, max_iter=2 if quick else 20)
    classes = {"fastfactor": ff.GaussianMixture, "sklearn": sklearn_gmm}
    timed = benchmark(lambda: classes[library](**params).fit(X))
    other = classes["sklearn" if library == "fastfactor" else "fastfactor"](**params).fit(X)
    # the same EM from the same start: the same model
    assert timed.means_.shape == other.means_.shape == (K, X.shape[1])
    assert timed.lower_bound_ == pytest.approx(other.lower_bound_, rel=1e-10)
    np.testing.assert_allclose(timed.means_, other.means_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(timed.weights_, other.weights_, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_step_kernel_threads(benchmark, X, covariance_type, n_threads):
    """One fused EM pass (E-step and M-step statistics) over the whole problem."""
    gm = ff.GaussianMixture(**_params(covariance_type, max_iter=1)).fit(X)
    args = (X, gm.weights_, gm.means_, gm.precisions_cholesky_, covariance_type)
    center = X.mean(axis=0)
    out = benchmark(lambda: kernels.gmm_em_step(*args, center=center, n_threads=n_threads))
    # the numpy twin forms the n x K responsibilities the kernel avoids
    expected = reference.gmm_em_step(*args, center=center)
    assert len(out) == len(expected)
    for got, want in zip(out, expected):
        if want is None:
            assert got is None
        else:
            np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)


def test_predict_proba(benchmark, X):
    gm = ff.GaussianMixture(**_params("diag", max_iter=2)).fit(X)
    big = np.tile(X, (2, 1))
    resp = benchmark(lambda: gm.predict_proba(big))
    assert resp.shape == (2 * len(X), K)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0)
    _, expected = reference.gmm_estimate(X[:500], gm.weights_, gm.means_,
                                         gm.precisions_cholesky_, "diag", output="proba")
    np.testing.assert_allclose(resp[:500], expected, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(resp[len(X):len(X) + 500], expected, rtol=1e-8, atol=1e-12)
