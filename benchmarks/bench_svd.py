"""pytest-benchmark suite for the truncated SVD.

    pytest benchmarks/bench_svd.py                       # full size, timed
    pytest benchmarks/bench_svd.py --benchmark-disable   # smoke run, small

The problems are :mod:`fastfactor.bench.svd`'s: the DESIGN ``svd`` matrix
(uniform 5000 x 3000, rank 50), a sparse matrix, and a low-rank-plus-noise
matrix for the rank-by-energy search. scikit-learn's rows are skipped when it
is not installed. For a side-by-side table with reconstruction errors, run
``python benchmarks/compare.py --only svd``.
"""
import numpy as np
import pytest

from fastfactor import TruncatedSVD, randomized_svd
from fastfactor.bench import svd as problems


@pytest.fixture(scope="module")
def matrices(quick):
    dense = problems.dense_problem(quick)
    return {"svd": dense, "svd-float32": dense.astype(np.float32),
            "svd-sparse": problems.sparse_problem(quick)}


@pytest.fixture(scope="module")
def energy_problem(quick):
    return problems.energy_problem(quick)


def _sklearn():
    return pytest.importorskip("sklearn.utils.extmath").randomized_svd


@pytest.mark.parametrize("problem,library", [("svd", "fastfactor"), ("svd", "sklearn"),
                                             ("svd-float32", "fastfactor"),
                                             ("svd-sparse", "fastfactor"),
                                             ("svd-sparse", "sklearn")])
def test_randomized_svd(benchmark, matrices, problem, library):
    benchmark.group = problem.replace("-float32", "")
    X, k = matrices[problem], problems.RANK
    svds = {"fastfactor": randomized_svd, "sklearn": _sklearn()}
    U, S, Vt = benchmark.pedantic(svds[library], args=(X, k), kwargs={"random_state": 0},
                                  rounds=3)
    assert U.shape == (X.shape[0], k) and S.shape == (k,) and Vt.shape == (k, X.shape[1])
    assert (np.diff(S) <= 0).all()
    # at least as accurate as scikit-learn's at its defaults (fastfactor's
    # design target), measured against the float64 matrix
    exact = matrices[problem.replace("-float32", "")]
    errors = {library: problems.relative_error(exact, U, S, Vt)}
    other = "sklearn" if library == "fastfactor" else "fastfactor"
    errors[other] = problems.relative_error(exact, *svds[other](exact, k, random_state=0))
    assert errors["fastfactor"] <= errors["sklearn"] * (1 + 1e-4)


@pytest.mark.benchmark(group="svd-energy")
def test_energy_rank_search(benchmark, energy_problem):
    X = energy_problem
    U, S, Vt = benchmark.pedantic(randomized_svd, args=(X, problems.ENERGY),
                                  kwargs={"random_state": 0}, rounds=3)
    assert len(S) == problems.exact_energy_rank(X)
    assert float(np.sum(S ** 2)) >= problems.ENERGY * float(np.vdot(X, X)) * (1 - 1e-9)


@pytest.mark.benchmark(group="svd-energy")
def test_energy_fixed_rank(benchmark, energy_problem):
    X = energy_problem
    searched = randomized_svd(X, problems.ENERGY, random_state=0)
    k = len(searched[1])
    U, S, Vt = benchmark.pedantic(randomized_svd, args=(X, k), kwargs={"random_state": 0},
                                  rounds=3)
    assert S.shape == (k,)
    # the search's factors are nearly as good as a fixed-rank run at its rank
    assert problems.relative_error(X, *searched) == pytest.approx(
        problems.relative_error(X, U, S, Vt), rel=1e-3)


@pytest.mark.benchmark(group="truncated-svd")
def test_truncated_svd_sparse(benchmark, matrices):
    X = matrices["svd-sparse"]
    model = TruncatedSVD(100, random_state=0)
    X_new = benchmark.pedantic(model.fit_transform, args=(X,), rounds=3)
    assert X_new.shape == (X.shape[0], 100)
    scale = np.abs(X_new).max()
    np.testing.assert_allclose(X_new, X @ model.components_.T, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(model.components_ @ model.components_.T, np.eye(100),
                               rtol=0, atol=1e-10)
