"""pytest-benchmark suite for sparse coding on the DESIGN ``sparse-code`` problem.

    pytest benchmarks/bench_sparse.py                       # full size, timed
    pytest benchmarks/bench_sparse.py --benchmark-disable   # smoke run, small

Each benchmark has a scikit-learn twin in the same group, so that the
``--benchmark-compare``/group table shows them side by side.
"""
import numpy as np
import pytest

import fastfactor as ff
from fastfactor.bench.sparse import ALPHA, lasso_objective, probe_objective, sparse_code_problem

skd = pytest.importorskip("sklearn.decomposition")


@pytest.fixture(scope="module")
def problem(quick):
    return sparse_code_problem(1000 if quick else 5000)


@pytest.fixture(scope="module")
def sklearn_lasso(problem):
    """scikit-learn's lasso codes: the objective every lasso solver must reach."""
    Y, D = problem
    return skd.sparse_encode(Y, D, algorithm="lasso_cd", alpha=ALPHA)


def _encode(module, algorithm, Y, D, **kwargs):
    return module.sparse_encode(Y, D, algorithm=algorithm, alpha=ALPHA, n_nonzero_coefs=10,
                                **kwargs)


def _check_codes(code, algorithm, problem, sklearn_lasso):
    """Lasso codes reach scikit-learn's objective; OMP picks its 10 atoms per signal."""
    Y, D = problem
    assert code.shape == (len(Y), len(D))
    if algorithm == "omp":
        assert ((code != 0).sum(axis=1) <= 10).all()
        np.testing.assert_allclose(code, _encode(skd, "omp", Y, D), rtol=1e-8, atol=1e-10)
    else:
        assert lasso_objective(Y, D, code) == pytest.approx(
            lasso_objective(Y, D, sklearn_lasso), rel=1e-6)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("algorithm", ["lasso_cd", "lasso_lars", "omp", "fista"])
def test_fastfactor_sparse_encode(benchmark, problem, sklearn_lasso, algorithm, n_threads):
    Y, D = problem
    benchmark.group = f"sparse_encode {algorithm}"
    code = benchmark.pedantic(_encode, args=(ff, algorithm, Y, D),
                              kwargs=dict(n_jobs=n_threads),
                              rounds=2 if algorithm == "fista" else 3)
    _check_codes(code, algorithm, problem, sklearn_lasso)


@pytest.mark.parametrize("algorithm", ["lasso_cd", "lasso_lars", "omp"])
def test_sklearn_sparse_encode(benchmark, problem, sklearn_lasso, algorithm):
    Y, D = problem
    benchmark.group = f"sparse_encode {algorithm}"
    code = benchmark.pedantic(_encode, args=(skd, algorithm, Y, D), rounds=1)
    _check_codes(code, algorithm, problem, sklearn_lasso)


@pytest.mark.parametrize("impl", ["fastfactor", "sklearn"])
def test_minibatch_dictionary_learning(benchmark, problem, quick, impl):
    Y, _ = problem
    X = Y[:768] if quick else Y
    benchmark.group = "MiniBatchDictionaryLearning 1 pass"
    cls = ff.MiniBatchDictionaryLearning if impl == "fastfactor" else \
        skd.MiniBatchDictionaryLearning
    est = cls(n_components=512, alpha=ALPHA, batch_size=256, max_iter=1, fit_algorithm="cd",
              random_state=0, tol=0.0, max_no_improvement=None)
    benchmark.pedantic(est.fit, args=(X,), rounds=1)
    assert est.components_.shape == (512, Y.shape[1])
    np.testing.assert_allclose(np.linalg.norm(est.components_, axis=1), 1.0, rtol=1e-8)
    # one pass already codes its signals far better than a random dictionary
    # (seed 1: the problem's own atoms come from seed 0)
    rng = np.random.default_rng(1)
    random_atoms = rng.normal(size=est.components_.shape)
    random_atoms /= np.linalg.norm(random_atoms, axis=1, keepdims=True)
    probe = Y[:500]
    assert probe_objective(probe, est.components_) < 0.75 * probe_objective(probe, random_atoms)
