"""pytest-benchmark suite for sparse coding on the DESIGN `sparse-code` problem.

    pytest benchmarks/bench_sparse.py --benchmark-only

Each benchmark has a scikit-learn twin in the same group, so that the
``--benchmark-compare``/group table shows them side by side.
"""
import warnings

import pytest

import fastfactor as ff

from compare_sparse import sparse_code_problem  # noqa: E402  (benchmarks/ is on sys.path)

skd = pytest.importorskip("sklearn.decomposition")
ALPHA = 0.05


@pytest.fixture(scope="module")
def problem():
    return sparse_code_problem()


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("algorithm", ["lasso_cd", "lasso_lars", "omp", "fista"])
def test_fastfactor_sparse_encode(benchmark, problem, algorithm, n_threads):
    Y, D = problem
    benchmark.group = f"sparse_encode {algorithm}"
    benchmark.pedantic(ff.sparse_encode, args=(Y, D),
                       kwargs=dict(algorithm=algorithm, alpha=ALPHA, n_nonzero_coefs=10,
                                   n_jobs=n_threads), rounds=2 if algorithm == "fista" else 3)


@pytest.mark.parametrize("algorithm", ["lasso_cd", "lasso_lars", "omp"])
def test_sklearn_sparse_encode(benchmark, problem, algorithm):
    Y, D = problem
    benchmark.group = f"sparse_encode {algorithm}"
    warnings.simplefilter("ignore")
    benchmark.pedantic(skd.sparse_encode, args=(Y, D),
                       kwargs=dict(algorithm=algorithm, alpha=ALPHA, n_nonzero_coefs=10),
                       rounds=1)


@pytest.mark.parametrize("impl", ["fastfactor", "sklearn"])
def test_minibatch_dictionary_learning(benchmark, problem, impl):
    Y, _ = problem
    benchmark.group = "MiniBatchDictionaryLearning 1 pass"
    cls = ff.MiniBatchDictionaryLearning if impl == "fastfactor" else \
        skd.MiniBatchDictionaryLearning
    est = cls(n_components=512, alpha=ALPHA, batch_size=256, max_iter=1, fit_algorithm="cd",
              random_state=0, tol=0.0, max_no_improvement=None)
    warnings.simplefilter("ignore")
    benchmark.pedantic(est.fit, args=(Y,), rounds=1)
