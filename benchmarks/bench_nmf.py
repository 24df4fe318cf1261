"""pytest-benchmark suite for NMF on the DESIGN problems.

    pytest benchmarks/bench_nmf.py                       # full size, timed
    pytest benchmarks/bench_nmf.py --benchmark-disable   # smoke run, small
"""
import warnings

import numpy as np
import pytest

import fastfactor as ff
from fastfactor import datasets, kernels
from fastfactor.nmf._init import initialize_nmf

sklearn_nmf = pytest.importorskip("sklearn.decomposition").NMF


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def problems(request):
    quick = request.config.getoption("benchmark_disable", default=False)
    dense = datasets.benchmark_problem("nmf-dense", quick=quick)
    sparse = datasets.benchmark_problem("nmf-sparse", quick=quick)
    return {"nmf-dense": dense, "nmf-kl": dense, "nmf-sparse": sparse}


CASES = [
    ("nmf-dense", "cd", "frobenius", 20),
    ("nmf-dense", "mu", "frobenius", 20),
    ("nmf-kl", "mu", "kullback-leibler", 5),
    ("nmf-sparse", "mu", "frobenius", 10),
    ("nmf-sparse", "cd", "frobenius", 10),
]


@pytest.mark.parametrize("library", ["fastfactor", "sklearn"])
@pytest.mark.parametrize("problem,solver,beta,n_iter", CASES)
def test_nmf_fit(benchmark, problems, library, problem, solver, beta, n_iter):
    X = problems[problem]
    W0, H0 = initialize_nmf(X, 32, init="nndsvda")
    cls = ff.NMF if library == "fastfactor" else sklearn_nmf
    params = dict(n_components=32, init="custom", solver=solver, beta_loss=beta,
                  max_iter=n_iter, tol=0)
    model = benchmark(lambda: cls(**params).fit(X, W=W0.copy(), H=H0.copy()))
    assert np.isfinite(model.reconstruction_err_)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_hals_kernel_threads(benchmark, problems, n_threads):
    X = problems["nmf-dense"]
    rng = np.random.default_rng(0)
    Ht = rng.random((X.shape[1], 32))
    XHt, HHt = X @ Ht, Ht.T @ Ht
    W = rng.random((X.shape[0], 32))
    benchmark(lambda: kernels.hals_update(W.copy(), XHt, HHt, None, 5, 0.0,
                                          n_threads=n_threads))
