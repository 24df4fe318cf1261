"""pytest-benchmark suite for NMF on the DESIGN problems.

    pytest benchmarks/bench_nmf.py                       # full size, timed
    pytest benchmarks/bench_nmf.py --benchmark-disable   # smoke run, small
"""
import numpy as np
import pytest

import fastfactor as ff
from fastfactor import datasets, kernels, reference
from fastfactor.nmf import initialize_nmf

sklearn_nmf = pytest.importorskip("sklearn.decomposition").NMF

K = 32
CASES = [
    ("nmf-dense", "cd", "frobenius", 20),
    ("nmf-dense", "mu", "frobenius", 20),
    ("nmf-kl", "mu", "kullback-leibler", 5),
    ("nmf-sparse", "mu", "frobenius", 10),
    ("nmf-sparse", "cd", "frobenius", 10),
]


@pytest.fixture(scope="module")
def problems(quick):
    dense = datasets.benchmark_problem("nmf-dense", quick=quick)
    sparse = datasets.benchmark_problem("nmf-sparse", quick=quick)
    return {"nmf-dense": dense, "nmf-kl": dense, "nmf-sparse": sparse}


def _fit(library, X, W0, H0, solver, beta, n_iter):
    cls = ff.NMF if library == "fastfactor" else sklearn_nmf
    model = cls(n_components=K, init="custom", solver=solver, beta_loss=beta, max_iter=n_iter,
                tol=0)
    return model.fit(X, W=W0.copy(), H=H0.copy())


@pytest.mark.parametrize("library", ["fastfactor", "sklearn"])
@pytest.mark.parametrize("problem,solver,beta,n_iter", CASES)
def test_nmf_fit(benchmark, problems, library, problem, solver, beta, n_iter):
    X = problems[problem]
    W0, H0 = initialize_nmf(X, K, init="nndsvda")
    timed = benchmark(lambda: _fit(library, X, W0, H0, solver, beta, n_iter))
    other = _fit("sklearn" if library == "fastfactor" else "fastfactor", X, W0, H0, solver,
                 beta, n_iter)
    ours, theirs = (timed, other) if library == "fastfactor" else (other, timed)
    assert ours.components_.shape == theirs.components_.shape == (K, X.shape[1])
    if solver == "mu":  # the same updates from the same start: the same loss
        assert ours.reconstruction_err_ == pytest.approx(theirs.reconstruction_err_, rel=1e-9)
    else:  # accelerated HALS gets at least as far per iteration as plain HALS
        assert ours.reconstruction_err_ <= theirs.reconstruction_err_ * (1 + 1e-9)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_hals_kernel_threads(benchmark, problems, n_threads):
    X = problems["nmf-dense"]
    rng = np.random.default_rng(0)
    Ht = rng.random((X.shape[1], K))
    XHt, HHt = X @ Ht, Ht.T @ Ht
    W = rng.random((X.shape[0], K))
    updated = benchmark(lambda: _hals(W, XHt, HHt, n_threads))
    # rows are updated independently: the numpy twin checks the first ones
    rows = slice(0, 50)
    expected = W[rows].copy()
    reference.hals_update(expected, XHt[rows], HHt, None, 5, 0.0)
    np.testing.assert_allclose(updated[rows], expected, rtol=1e-10, atol=1e-12)
    assert (updated >= 0).all()


def _hals(W, XHt, HHt, n_threads):
    out = W.copy()
    kernels.hals_update(out, XHt, HHt, None, 5, 0.0, n_threads=n_threads)
    return out
