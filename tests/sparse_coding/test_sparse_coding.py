"""Sparse coding, dictionary learning and the sparse autoencoder.

Kernels against their numpy twins, results against scikit-learn on the
same problems, bad input, scikit-learn's estimator checks, thread
determinism.
"""
import copy
import unittest
import warnings

import numpy as np
import pytest

import fastfactor
from fastfactor import (
    DictionaryLearning,
    MiniBatchDictionaryLearning,
    SparseAutoencoder,
    SparseCoder,
    kernels,
    reference,
    selftest,
    sparse_encode,
)
from fastfactor.selftest import _cases_sparse_coding as _cases_sparse

sklearn = pytest.importorskip("sklearn")
from sklearn import decomposition as skd  # noqa: E402


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------
def make_problem(n_samples=150, n_components=48, n_features=32, density=0.08, noise=0.01,
                 seed=0):
    """The DESIGN sparse-code recipe, smaller: unit-norm atoms, sparse codes plus noise."""
    rng = np.random.default_rng(seed)
    D = rng.normal(size=(n_components, n_features))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    codes = rng.random((n_samples, n_components)) * (rng.random((n_samples, n_components))
                                                     < density)
    X = codes @ D + noise * rng.normal(size=(n_samples, n_features))
    return X, D


def lasso_objective(X, D, code, alpha):
    R = X - code @ D
    return 0.5 * float((R * R).sum()) + alpha * float(np.abs(code).sum())


# ---------------------------------------------------------------------------
# kernels vs numpy twins
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(_cases_sparse.CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", selftest.SHAPES + [(33, 17, 9)])
def test_kernel_matches_reference(name, dtype, shape):
    err = selftest.max_relative_error(name, *shape, dtype)
    assert err <= selftest.RTOL[dtype], f"{name} {np.dtype(dtype).name} {shape}: {err:.3e}"


@pytest.mark.parametrize("positive", [False, True])
def test_soft_threshold_values(positive):
    Z = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    out = kernels.soft_threshold(Z, 1.0, positive=positive)
    expected = [[0, 0, 0, 0, 1]] if positive else [[-1, 0, 0, 0, 1]]
    np.testing.assert_array_equal(out, expected)
    # in place, float32 kept
    Z32 = Z.astype(np.float32)
    kernels.soft_threshold(Z32, 1.0, positive=positive, out=Z32)
    assert Z32.dtype == np.float32
    np.testing.assert_array_equal(Z32, expected)


def test_soft_threshold_grad_matches_finite_differences():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(7, 5))
    thr = rng.random(5) * 0.5
    g = rng.normal(size=(7, 5))
    grad_Z, grad_thr = kernels.soft_threshold_grad(Z, g, thr)
    f = lambda z, t: float((kernels.soft_threshold(z, t) * g).sum())  # noqa: E731
    h = 1e-6
    num_thr = np.array([(f(Z, thr + h * e) - f(Z, thr - h * e)) / (2 * h) for e in np.eye(5)])
    np.testing.assert_allclose(grad_thr, num_thr, atol=1e-6)
    E = np.zeros_like(Z)
    E[2, 3] = h
    np.testing.assert_allclose(grad_Z[2, 3], (f(Z + E, thr) - f(Z - E, thr)) / (2 * h),
                               atol=1e-6)


def test_omp_kernel_rejects_too_many_atoms():
    G = np.eye(3)
    with pytest.raises(ValueError, match="n_nonzero_coefs"):
        kernels.omp_gram(G, np.ones((2, 3)), 4)


def test_reference_names_mirror_kernels():
    for name in _cases_sparse.CASES:
        assert name in kernels.__all__ and name in reference.__all__


# ---------------------------------------------------------------------------
# the same results as scikit-learn
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["lasso_cd", "lasso_lars", "fista"])
@pytest.mark.parametrize("positive", [False, True])
def test_lasso_same_objective_as_sklearn(algorithm, positive):
    X, D = make_problem()
    alpha = 0.05
    sk_alg = "lasso_cd" if algorithm == "fista" else algorithm
    ref = skd.sparse_encode(X, D, algorithm=sk_alg, alpha=alpha, positive=positive)
    code = sparse_encode(X, D, algorithm=algorithm, alpha=alpha, positive=positive)
    f_ref = lasso_objective(X, D, ref, alpha)
    f_ff = lasso_objective(X, D, code, alpha)
    assert abs(f_ff - f_ref) <= 1e-6 * abs(f_ref), (f_ff, f_ref)
    if positive:
        assert code.min() >= 0


def test_lasso_per_signal_objective_matches_sklearn():
    X, D = make_problem(n_samples=60, seed=3)
    alpha = 0.02
    ref = skd.sparse_encode(X, D, algorithm="lasso_cd", alpha=alpha)
    code = sparse_encode(X, D, algorithm="lasso_cd", alpha=alpha)
    for i in range(X.shape[0]):
        a = lasso_objective(X[i:i + 1], D, code[i:i + 1], alpha)
        b = lasso_objective(X[i:i + 1], D, ref[i:i + 1], alpha)
        assert abs(a - b) <= 1e-6 * abs(b)


def test_lasso_warm_start_and_max_iter_warning():
    X, D = make_problem()
    exact = sparse_encode(X, D, algorithm="lasso_cd", alpha=0.05)
    again = sparse_encode(X, D, algorithm="lasso_cd", alpha=0.05, init=exact)
    np.testing.assert_allclose(again, exact, atol=1e-10)
    with pytest.warns(sklearn.exceptions.ConvergenceWarning):
        sparse_encode(X, D, algorithm="lasso_cd", alpha=0.05, max_iter=1)


@pytest.mark.parametrize("make_learner", [
    lambda: MiniBatchDictionaryLearning(8, batch_size=10, max_iter=3, transform_max_iter=1,
                                        fit_algorithm="cd", random_state=0),
    lambda: DictionaryLearning(8, max_iter=4, transform_max_iter=1, tol=0, fit_algorithm="cd",
                               random_state=0),
])
def test_dictionary_fit_warns_once_for_all_its_encodes(make_learner):
    # one sparse-code warning per mini-batch flooded the terminal of long fits
    # (fit_algorithm='cd': scikit-learn's Lasso warns there; its LARS never does)
    X, _ = make_problem()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_learner().fit(X)
    messages = [str(w.message) for w in caught
                if issubclass(w.category, sklearn.exceptions.ConvergenceWarning)
                and "sparse code" in str(w.message)]
    assert len(messages) == 1, messages
    assert "transform_max_iter=1" in messages[0] and "encodes" in messages[0]


@pytest.mark.parametrize("n_nonzero_coefs", [1, 5, 20, None])
def test_omp_same_support_and_coefficients_as_sklearn(n_nonzero_coefs):
    X, D = make_problem(seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = skd.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=n_nonzero_coefs)
    code = sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=n_nonzero_coefs)
    np.testing.assert_array_equal(code != 0, ref != 0)
    np.testing.assert_allclose(code, ref, rtol=0, atol=1e-8)


def test_omp_overcomplete_stops_on_dependent_atoms():
    # more atoms asked than features: the atoms become linearly dependent
    X, D = make_problem(n_components=20, n_features=8, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = skd.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=12)
    code = sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=12)
    assert ((code != 0).sum(axis=1) <= 8).all()
    np.testing.assert_allclose(code @ D, ref @ D, atol=1e-8)


@pytest.mark.parametrize("positive", [False, True])
def test_threshold_same_as_sklearn(positive):
    X, D = make_problem()
    ref = skd.sparse_encode(X, D, algorithm="threshold", alpha=0.1, positive=positive)
    code = sparse_encode(X, D, algorithm="threshold", alpha=0.1, positive=positive)
    np.testing.assert_allclose(code, ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("algorithm", ["lasso_cd", "lasso_lars", "omp", "threshold", "fista"])
def test_float32_in_float32_out(algorithm):
    X, D = make_problem()
    code32 = sparse_encode(X.astype(np.float32), D.astype(np.float32), algorithm=algorithm,
                           alpha=0.05, n_nonzero_coefs=5)
    code64 = sparse_encode(X, D, algorithm=algorithm, alpha=0.05, n_nonzero_coefs=5)
    assert code32.dtype == np.float32
    f32 = lasso_objective(X, D, code32.astype(np.float64), 0.05)
    f64 = lasso_objective(X, D, code64, 0.05)
    assert abs(f32 - f64) <= 1e-4 * abs(f64)


def test_sparse_coder_matches_sklearn():
    X, D = make_problem()
    for kwargs in (dict(transform_algorithm="omp", transform_n_nonzero_coefs=4),
                   dict(transform_algorithm="lasso_cd", transform_alpha=0.05),
                   dict(transform_algorithm="threshold", transform_alpha=0.1,
                        split_sign=True)):
        ours = SparseCoder(D, **kwargs)
        theirs = skd.SparseCoder(D, **kwargs)
        a, b = ours.fit_transform(X), theirs.fit_transform(X)
        np.testing.assert_allclose(a, b, atol=1e-7)
        np.testing.assert_allclose(ours.inverse_transform(a), theirs.inverse_transform(b),
                                   atol=1e-7)
        assert ours.n_components_ == theirs.n_components_


def test_dictionary_learning_follows_sklearn():
    X, _ = make_problem(n_samples=80, n_components=20, n_features=16, seed=4)
    kw = dict(n_components=12, alpha=0.1, max_iter=8, fit_algorithm="cd",
              transform_algorithm="lasso_cd", random_state=0)
    ours = DictionaryLearning(**kw)
    theirs = skd.DictionaryLearning(**kw)
    code_ours, code_theirs = ours.fit_transform(X), theirs.fit_transform(X)
    np.testing.assert_allclose(ours.error_, theirs.error_, rtol=1e-5)
    np.testing.assert_allclose(ours.components_, theirs.components_, atol=1e-4)
    assert ours.n_iter_ == theirs.n_iter_
    assert code_ours.shape == code_theirs.shape == (80, 12)
    T = ours.transform(X)
    assert T.shape == (80, 12)
    assert ours.inverse_transform(T).shape == X.shape


def test_minibatch_dictionary_learning_fit_and_partial_fit():
    X, _ = make_problem(n_samples=300, n_components=20, n_features=16, seed=5)
    est = MiniBatchDictionaryLearning(n_components=10, alpha=0.1, batch_size=32,
                                      max_iter=3, random_state=0,
                                      transform_algorithm="lasso_cd").fit(X)
    assert est.components_.shape == (10, 16)
    assert est.n_steps_ >= 1 and est.n_iter_ >= 1
    assert (np.linalg.norm(est.components_, axis=1) <= 1 + 1e-12).all()
    online = MiniBatchDictionaryLearning(n_components=10, alpha=0.1, random_state=0,
                                         transform_algorithm="lasso_cd")
    for start in range(0, 300, 50):
        online.partial_fit(X[start:start + 50])
    assert online.n_steps_ == 6
    code = online.transform(X)
    rel = np.linalg.norm(X - online.inverse_transform(code)) / np.linalg.norm(X)
    sk = skd.MiniBatchDictionaryLearning(n_components=10, alpha=0.1, random_state=0,
                                         transform_algorithm="lasso_cd")
    for start in range(0, 300, 50):
        sk.partial_fit(X[start:start + 50])
    rel_sk = np.linalg.norm(X - sk.inverse_transform(sk.transform(X))) / np.linalg.norm(X)
    assert rel <= 1.25 * rel_sk + 0.02


def test_dictionary_learning_positive():
    X, _ = make_problem(n_samples=60, n_components=16, n_features=12, seed=6)
    est = DictionaryLearning(n_components=6, alpha=0.1, max_iter=5, positive_code=True,
                             positive_dict=True, fit_algorithm="cd",
                             transform_algorithm="lasso_cd", random_state=0)
    code = est.fit_transform(np.abs(X))
    assert code.min() >= 0 and est.components_.min() >= 0
    assert est.transform(np.abs(X)).min() >= 0


def _fit_recording_states(est, X):
    """Run ``est._fit_checkpointed`` and return a copy of every state it reported."""
    states = []

    def keep(state):
        states.append({k: v.copy() if isinstance(v, np.ndarray) else copy.deepcopy(v)
                       for k, v in state.items()})

    est._fit_checkpointed(X, callback=keep)
    return states


def test_minibatch_dictionary_learning_resumes_bit_for_bit():
    X, _ = make_problem(n_samples=300, n_components=40, n_features=20, seed=7)
    # a large alpha leaves atoms unused, so they are restarted from random samples
    # (the generator's state matters); max_no_improvement stops the fit early
    # (the smoothed-cost bookkeeping matters)
    kw = dict(n_components=30, alpha=0.5, batch_size=32, max_iter=50, tol=0,
              max_no_improvement=4, fit_algorithm="cd", random_state=0)
    reference = MiniBatchDictionaryLearning(**kw).fit(X)
    est = MiniBatchDictionaryLearning(**kw)
    states = _fit_recording_states(est, X)
    np.testing.assert_array_equal(est.components_, reference.components_)
    assert est.n_steps_ == len(states) + 1 < 50 * 10  # stopped early, on a step not reported
    assert states[0]["rng_state"] != states[-1]["rng_state"]
    assert states[-1]["no_improvement"] > 0
    for state in (states[0], states[len(states) // 2], states[-1]):
        resumed = MiniBatchDictionaryLearning(**kw)._fit_checkpointed(X, resume=state)
        np.testing.assert_array_equal(resumed.components_, reference.components_)
        assert (resumed.n_steps_, resumed.n_iter_) == (reference.n_steps_, reference.n_iter_)
        # partial_fit continues from the restored statistics
        np.testing.assert_array_equal(resumed._A, est._A)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_minibatch_dictionary_learning_resume_without_shuffle(dtype):
    X, _ = make_problem(n_samples=100, n_components=20, n_features=12, seed=8)
    X = X.astype(dtype)
    kw = dict(n_components=8, alpha=0.1, batch_size=16, max_iter=3, tol=0, shuffle=False,
              max_no_improvement=None, fit_algorithm="cd", random_state=0)
    reference = MiniBatchDictionaryLearning(**kw).fit(X)
    states = _fit_recording_states(MiniBatchDictionaryLearning(**kw), X)
    assert len(states) == 3 * 7 and "order" not in states[0]
    assert states[-1]["dictionary"].dtype == dtype
    resumed = MiniBatchDictionaryLearning(**kw)._fit_checkpointed(X, resume=states[9])
    np.testing.assert_array_equal(resumed.components_, reference.components_)
    assert resumed.components_.dtype == dtype and resumed.n_steps_ == 21


def test_dictionary_learning_resumes_bit_for_bit():
    X, _ = make_problem(n_samples=80, n_components=20, n_features=16, seed=4)
    # alpha this large restarts unused atoms from random samples at every iteration
    kw = dict(n_components=12, alpha=1.0, max_iter=12, tol=0, fit_algorithm="cd",
              random_state=0)
    reference = DictionaryLearning(**kw).fit(X)
    states = _fit_recording_states(DictionaryLearning(**kw), X)
    assert [s["n_iter"] for s in states] == list(range(1, 13))
    assert states[0]["rng_state"] != states[6]["rng_state"]
    for state in (states[0], states[6]):
        resumed = DictionaryLearning(**kw)._fit_checkpointed(X, resume=state)
        np.testing.assert_array_equal(resumed.components_, reference.components_)
        assert resumed.error_ == reference.error_ and resumed.n_iter_ == 12


def test_resume_state_of_another_problem_is_refused():
    from fastfactor.checkpoint import CheckpointError

    X, _ = make_problem(n_samples=100, n_components=20, n_features=12, seed=8)
    kw = dict(n_components=8, alpha=0.1, batch_size=16, max_iter=2, fit_algorithm="cd",
              random_state=0)
    state = _fit_recording_states(MiniBatchDictionaryLearning(**kw), X)[2]
    with pytest.raises(CheckpointError, match="'dictionary' has shape"):
        MiniBatchDictionaryLearning(**dict(kw, n_components=9))._fit_checkpointed(
            X, resume=state)
    with pytest.raises(CheckpointError, match="'order' has shape"):
        MiniBatchDictionaryLearning(**kw)._fit_checkpointed(X[:90], resume=state)
    with pytest.raises(CheckpointError, match="mini-batch step 3, outside"):
        MiniBatchDictionaryLearning(**dict(kw, max_iter=0))._fit_checkpointed(
            X, resume=state)
    with pytest.raises(CheckpointError, match="lacks 'losses'.*DictionaryLearning"):
        DictionaryLearning(8, max_iter=5)._fit_checkpointed(X, resume=state)
    incomplete = {key: value for key, value in state.items() if key != "ewa_cost"}
    with pytest.raises(CheckpointError, match="lacks 'ewa_cost'"):
        MiniBatchDictionaryLearning(**kw)._fit_checkpointed(X, resume=incomplete)


# ---------------------------------------------------------------------------
# sparse autoencoder
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("positive_code", [False, True])
def test_sparse_autoencoder_trains(dtype, positive_code):
    X, _ = make_problem(n_samples=400, n_components=24, n_features=16, seed=7)
    X = X.astype(dtype)
    sae = SparseAutoencoder(n_components=24, alpha=0.01, learning_rate=5e-3, batch_size=64,
                            max_iter=60, positive_code=positive_code, random_state=0)
    sae.fit(X)
    assert sae.loss_curve_[-1] < 0.5 * sae.loss_curve_[0]
    code = sae.transform(X)
    assert code.dtype == dtype and code.shape == (400, 24)
    if positive_code:
        assert code.min() >= 0
    assert (code == 0).mean() > 0.2        # the codes are sparse
    Xh = sae.inverse_transform(code)
    assert Xh.dtype == dtype
    assert np.linalg.norm(X - Xh) < 0.6 * np.linalg.norm(X - X.mean(axis=0))
    assert (sae.threshold_ >= 0).all()
    assert (np.linalg.norm(sae.components_, axis=1) <= 1 + 1e-5).all()


def test_sparse_autoencoder_deterministic():
    X, _ = make_problem(n_samples=200, seed=8)
    a = SparseAutoencoder(n_components=8, max_iter=5, random_state=1, n_jobs=1).fit(X)
    b = SparseAutoencoder(n_components=8, max_iter=5, random_state=1, n_jobs=2).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(a.threshold_, b.threshold_)


def test_sparse_autoencoder_transforms_dask_arrays_lazily():
    da = pytest.importorskip("dask.array")
    X, _ = make_problem(n_samples=90, seed=13)
    sae = SparseAutoencoder(n_components=6, max_iter=2, random_state=0).fit(X.astype(np.float32))
    codes = sae.transform(da.from_array(X, chunks=(40, X.shape[1])))
    assert isinstance(codes, da.Array) and codes.dtype == np.float32    # the model's dtype
    np.testing.assert_array_equal(codes.compute(), sae.transform(X))


# ---------------------------------------------------------------------------
# thread determinism
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["lasso_cd", "lasso_lars", "omp", "threshold", "fista"])
def test_same_codes_for_every_thread_count(algorithm):
    X, D = make_problem(n_samples=301, seed=9)
    runs = [sparse_encode(X, D, algorithm=algorithm, alpha=0.05, n_nonzero_coefs=6,
                          n_jobs=nt) for nt in (1, 2, 3, 2)]
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0], other)


def test_soft_threshold_grad_same_for_every_thread_count():
    rng = np.random.default_rng(0)
    Z, g = rng.normal(size=(1000, 7)), rng.normal(size=(1000, 7))
    res = [kernels.soft_threshold_grad(Z, g, 0.3, n_threads=nt)[1] for nt in (1, 2, 4)]
    for other in res[1:]:
        np.testing.assert_array_equal(res[0], other)


# ---------------------------------------------------------------------------
# n_jobs (scikit-learn's name) and n_threads (fastfactor's): one setting
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["lasso_cd", "omp", "fista"])
def test_sparse_encode_takes_n_threads_or_n_jobs(algorithm):
    X, D = make_problem(n_samples=120, seed=10)
    by_jobs = sparse_encode(X, D, algorithm=algorithm, n_jobs=2)
    np.testing.assert_array_equal(sparse_encode(X, D, algorithm=algorithm, n_threads=2),
                                  by_jobs)
    np.testing.assert_array_equal(
        sparse_encode(X, D, algorithm=algorithm, n_threads=2, n_jobs=2), by_jobs)
    with pytest.raises(ValueError, match="n_threads=2 and n_jobs=1"):
        sparse_encode(X, D, algorithm=algorithm, n_threads=2, n_jobs=1)


THREADED_ESTIMATORS = {
    "SparseCoder": lambda D, **threads: SparseCoder(D, transform_algorithm="lasso_cd",
                                                    transform_alpha=0.1, **threads),
    "DictionaryLearning": lambda D, **threads: DictionaryLearning(
        n_components=6, max_iter=5, random_state=0, **threads),
    "MiniBatchDictionaryLearning": lambda D, **threads: MiniBatchDictionaryLearning(
        n_components=6, max_iter=2, batch_size=20, random_state=0, **threads),
    "SparseAutoencoder": lambda D, **threads: SparseAutoencoder(
        n_components=6, max_iter=3, random_state=0, **threads),
}


@pytest.mark.parametrize("name", sorted(THREADED_ESTIMATORS))
def test_estimators_take_n_threads_or_n_jobs(name):
    X, D = make_problem(n_samples=80, seed=11)
    make = THREADED_ESTIMATORS[name]
    by_jobs, by_threads = make(D, n_jobs=2), make(D, n_threads=2)
    np.testing.assert_array_equal(by_threads.fit_transform(X), by_jobs.fit_transform(X))
    if hasattr(by_jobs, "components_"):
        np.testing.assert_array_equal(by_threads.components_, by_jobs.components_)
    with pytest.raises(ValueError, match="n_threads=2 and n_jobs=1"):
        make(D, n_threads=2, n_jobs=1).fit_transform(X)
    by_jobs.set_params(n_threads=1)     # a conflict set after the fit is refused too
    with pytest.raises(ValueError, match="n_threads=1 and n_jobs=2"):
        by_jobs.transform(X)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["X", "dictionary"])
def test_non_finite_rejected(bad, where):
    X, D = make_problem(n_samples=10)
    (X if where == "X" else D)[1, 2] = bad
    with pytest.raises(ValueError, match=rf"{where}.*(NaN|infinity)|(NaN|infinity).*{where}"):
        sparse_encode(X, D, algorithm="lasso_cd")


def test_dictionary_width_mismatch():
    X, D = make_problem(n_samples=10)
    with pytest.raises(ValueError, match="dictionary"):
        sparse_encode(X, D[:, :-1])
    with pytest.raises(ValueError, match="dictionary"):
        SparseCoder(D[:, :-1]).fit(X)
    with pytest.raises(ValueError, match="dictionary"):
        SparseCoder(D[:, :-1]).transform(X)


@pytest.mark.parametrize("algorithm", ["lasso_lars", "lasso_cd", "lars", "omp", "threshold",
                                       "fista"])
def test_zero_norm_atoms_get_zero_codes(algorithm):
    # scikit-learn encodes against such a dictionary; the atom's codes are 0
    # and the other atoms' are those of the dictionary without it
    X, D = make_problem(n_samples=10)
    D[[3, 5]] = 0
    kept = np.setdiff1d(np.arange(D.shape[0]), [3, 5])
    code = sparse_encode(X, D, algorithm=algorithm, alpha=0.05, n_nonzero_coefs=4)
    assert np.isfinite(code).all()
    np.testing.assert_array_equal(code[:, [3, 5]], 0)
    without = sparse_encode(X, D[kept], algorithm=algorithm, alpha=0.05, n_nonzero_coefs=4)
    np.testing.assert_allclose(code[:, kept], without, atol=1e-8)
    coder = SparseCoder(D, transform_algorithm=algorithm, transform_alpha=0.05,
                        transform_n_nonzero_coefs=4)
    np.testing.assert_array_equal(coder.fit(X).transform(X)[:, [3, 5]], 0)


@pytest.mark.parametrize("alpha", [-0.1, -1])
def test_negative_alpha(alpha):
    X, D = make_problem(n_samples=10)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        sparse_encode(X, D, algorithm="lasso_cd", alpha=alpha)
    with pytest.raises(ValueError, match="transform_alpha must be >= 0"):
        SparseCoder(D, transform_algorithm="lasso_cd", transform_alpha=alpha).transform(X)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        DictionaryLearning(n_components=3, alpha=alpha).fit(X)


def assert_encode_and_coder_reject(name, value, **encode_params):
    """``sparse_encode(name=value)`` and ``SparseCoder(transform_<name>=value)`` raise
    ValueErrors naming the parameter."""
    X, D = make_problem(n_samples=10)        # 48 atoms
    with pytest.raises(ValueError, match=name):
        sparse_encode(X, D, **{name: value}, **encode_params)
    with pytest.raises(ValueError, match="transform_" + name):
        SparseCoder(D, **{"transform_" + name: value}).transform(X)
    return X


@pytest.mark.parametrize("algorithm", ["lassocd", "LARS", "", None, "lasso"])
def test_unknown_algorithm(algorithm):
    X = assert_encode_and_coder_reject("algorithm", algorithm)
    with pytest.raises(ValueError, match="fit_algorithm"):
        MiniBatchDictionaryLearning(n_components=2, fit_algorithm=algorithm).fit(X)


@pytest.mark.parametrize("n", [0, -1, 49, 1000])
def test_n_nonzero_coefs_out_of_range(n):
    assert_encode_and_coder_reject("n_nonzero_coefs", n, algorithm="omp")


def test_n_nonzero_coefs_wrong_type():
    X, D = make_problem(n_samples=10)
    with pytest.raises(TypeError, match="n_nonzero_coefs"):
        sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=2.5)


def test_positive_with_omp_rejected():
    X, D = make_problem(n_samples=10)
    with pytest.raises(ValueError, match="[Pp]ositive.*omp"):
        sparse_encode(X, D, algorithm="omp", positive=True)
    with pytest.raises(ValueError, match="positive_code"):
        SparseCoder(D, positive_code=True).transform(X)


def test_other_bad_inputs():
    X, D = make_problem(n_samples=10)
    with pytest.raises(ValueError, match="2D"):
        sparse_encode(X[0], D)
    with pytest.raises(ValueError, match="init"):
        sparse_encode(X, D, algorithm="lasso_cd", init=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="max_iter"):
        sparse_encode(X, D, algorithm="lasso_cd", max_iter=-1)
    with pytest.raises(TypeError, match="X"):
        sparse_encode(np.array([["a", "b"]]), D)
    with pytest.raises(ValueError, match="components"):
        SparseCoder(D).inverse_transform(np.ones((2, 3)))
    with pytest.raises(ValueError, match="learning_rate"):
        SparseAutoencoder(learning_rate=0).fit(X)
    with pytest.raises(ValueError, match="n_components"):
        DictionaryLearning(n_components=0).fit(X)
    with pytest.raises(ValueError, match="batch_size"):
        MiniBatchDictionaryLearning(batch_size=0).fit(X)
    with pytest.raises(fastfactor.NotFittedError):
        SparseAutoencoder().transform(X)


# ---------------------------------------------------------------------------
# scikit-learn's estimator checks
# ---------------------------------------------------------------------------
def _sklearn_checks(estimator, per_check=None):
    from sklearn.utils.estimator_checks import estimator_checks_generator

    per_check = per_check or {}
    for est, check in estimator_checks_generator(estimator, legacy=True, mark=None):
        name = getattr(check, "func", check).__name__
        if name in per_check:
            est = estimator.__class__(**{**estimator.get_params(), **per_check[name]})
        yield name, est, check


def _run_checks(estimator, per_check=None):
    failures = []
    for name, est, check in _sklearn_checks(estimator, per_check):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                check(est)
            except (unittest.SkipTest, sklearn.exceptions.SkipTestWarning):
                pass
            except Exception as exc:  # collect every failure, then report them all
                failures.append(f"{name}: {type(exc).__name__}: {exc}"[:500])
    assert not failures, "\n".join(failures)


def test_check_estimator_dictionary_learning():
    _run_checks(DictionaryLearning(max_iter=20, transform_algorithm="lasso_lars"),
                {"check_dict_unchanged": dict(n_components=1)})


def test_check_estimator_minibatch_dictionary_learning():
    _run_checks(MiniBatchDictionaryLearning(batch_size=10, max_iter=5),
                {"check_dict_unchanged": dict(n_components=1)})


def test_check_estimator_sparse_autoencoder():
    _run_checks(SparseAutoencoder(max_iter=5, batch_size=16),
                {"check_dict_unchanged": dict(n_components=1)})


def test_check_estimator_sparse_coder():
    # The dictionary fixes the width of X, so each check needs a dictionary of
    # the width it uses: take the per-check parameters scikit-learn's own
    # test-suite uses for its SparseCoder.
    try:
        from sklearn.utils._test_common.instance_generator import (
            PER_ESTIMATOR_CHECK_PARAMS,
        )
        per_check = PER_ESTIMATOR_CHECK_PARAMS[skd.SparseCoder]
    except (ImportError, KeyError):  # pragma: no cover - other scikit-learn versions
        pytest.skip("scikit-learn's per-check SparseCoder parameters are not available")
    rng = np.random.RandomState(0)
    _run_checks(SparseCoder(dictionary=rng.normal(size=(5, 3))), per_check)


@pytest.mark.parametrize("positive", [False, True])
def test_lasso_unpacked_working_set_same_result(positive, monkeypatch):
    # working sets larger than LASSO_PACK_CAP read the Gram matrix in place
    # instead of packing gram[A, A] (and are never solved exactly on their
    # support): both meet the duality-gap tolerance, with the same codes
    X, D = make_problem(seed=12)
    G, XD, x2 = D @ D.T, X @ D.T, (X * X).sum(axis=1)
    packed, unpacked = np.zeros((len(X), len(D))), np.zeros((len(X), len(D)))
    tol = 1e-10
    _, gaps_packed = kernels.lasso_cd_gram(packed, G, XD, x2, 0.02, positive=positive,
                                           tol=tol, return_info=True)
    monkeypatch.setattr("fastfactor.kernels._sparse_coding_api.LASSO_PACK_CAP", 0)
    _, gaps_unpacked = kernels.lasso_cd_gram(unpacked, G, XD, x2, 0.02, positive=positive,
                                             tol=tol, return_info=True)
    assert (gaps_packed <= tol * x2).all() and (gaps_unpacked <= tol * x2).all()
    np.testing.assert_allclose(unpacked, packed, rtol=0, atol=1e-6)
    assert (packed != 0).any()


def _correlated_problem(seed, common, duplicate=False):
    # 32 atoms in 40 dimensions sharing a common direction: correlated atoms
    # and tens of active ones per signal, where cyclic CD alone is slow
    rng = np.random.default_rng(seed)
    D = rng.normal(size=(32, 40)) + common * rng.normal(size=(1, 40))
    if duplicate:
        D[1] = D[0]  # G[A, A] is singular whenever both atoms are active
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.normal(size=(40, 40))
    return X, D, D @ D.T, X @ D.T, (X * X).sum(axis=1)


@pytest.mark.parametrize("common, alpha", [(1.0, 0.05), (2.0, 0.01)])
def test_lasso_active_set_steps_solve_correlated_problems(common, alpha):
    # once no zero violates, the kernel steps to the exact solution on the
    # support (or until a sign flips): the gaps end far below the tolerance,
    # within max_iter where plain cyclic CD (the reference) needs more sweeps
    X, D, G, XD, x2 = _correlated_problem(7, common)
    code = np.zeros((len(X), len(D)))
    n_iter, gaps = kernels.lasso_cd_gram(code, G, XD, x2, alpha, max_iter=1000,
                                         return_info=True)
    assert (code != 0).sum(axis=1).mean() > 20
    assert (gaps <= 1e-8 * x2).all()
    assert (gaps <= 1e-12 * x2).mean() > 0.25
    expected = np.zeros_like(code)
    ref_iter, _ = reference.lasso_cd_gram(expected, G, XD, x2, alpha, max_iter=20000,
                                          return_info=True)
    assert n_iter.sum() < ref_iter.sum() / 2
    f, f_ref = lasso_objective(X, D, code, alpha), lasso_objective(X, D, expected, alpha)
    assert f <= f_ref * (1 + 1e-9)


@pytest.mark.parametrize("positive", [False, True])
def test_lasso_with_duplicate_atoms_falls_back_to_sweeps(positive):
    # two identical atoms, both active from the warm start: the exact step is
    # refused (G[A, A] is singular) and the sweeps still reach the tolerance,
    # at the reference's objective
    X, D, G, XD, x2 = _correlated_problem(8, 0.0, duplicate=True)
    code = np.zeros((len(X), len(D)))
    code[:, :2] = 0.05
    expected = code.copy()
    n_iter, gaps = kernels.lasso_cd_gram(code, G, XD, x2, 0.05, positive=positive,
                                         return_info=True)
    assert ((code[:, 0] != 0) & (code[:, 1] != 0)).any()
    assert (gaps <= 1e-8 * x2).all() and np.isfinite(code).all()
    reference.lasso_cd_gram(expected, G, XD, x2, 0.05, positive=positive, max_iter=20000)
    np.testing.assert_allclose(lasso_objective(X, D, code, 0.05),
                               lasso_objective(X, D, expected, 0.05), rtol=1e-7)
