"""What scikit-learn's own dictionary-learning API has and fastfactor now matches.

LARS coding (``algorithm='lars'``) against scikit-learn's on the same
inputs, the ``dict_learning`` / ``dict_learning_online`` functions, the
running statistics ``_A``/``_B`` of MiniBatchDictionaryLearning, the
positivity errors, bad dictionaries, and no warning flood from lasso_lars.
"""
import warnings

import numpy as np
import pytest

import fastfactor
from fastfactor import (
    DictionaryLearning,
    MiniBatchDictionaryLearning,
    SparseCoder,
    dict_learning,
    dict_learning_online,
    sparse_encode,
)
from fastfactor.exceptions import ConvergenceWarning

sklearn = pytest.importorskip("sklearn")
from sklearn import decomposition as skd  # noqa: E402


def make_data(n_samples=30, n_components=20, n_features=16, seed=0, normalize=True):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_features)
    D = rng.randn(n_components, n_features)
    if normalize:
        D /= np.linalg.norm(D, axis=1, keepdims=True)
    return X, D


# ---------------------------------------------------------------------------
# LARS
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_nonzero_coefs", [1, 3, 8, 16, None])
def test_lars_same_codes_as_sklearn(seed, n_nonzero_coefs):
    X, D = make_data(seed=seed, normalize=seed % 2 == 0)
    ref = skd.sparse_encode(X, D, algorithm="lars", n_nonzero_coefs=n_nonzero_coefs)
    code = sparse_encode(X, D, algorithm="lars", n_nonzero_coefs=n_nonzero_coefs)
    np.testing.assert_allclose(code, ref, rtol=0, atol=1e-8 * max(1.0, np.abs(ref).max()))
    n_max = n_nonzero_coefs or max(X.shape[1] // 10, 1)
    assert ((code != 0).sum(axis=1) <= n_max).all()


def test_lars_float32_kept_and_close_to_sklearn():
    X, D = make_data(seed=3)
    X32, D32 = X.astype(np.float32), D.astype(np.float32)
    code = sparse_encode(X32, D32, algorithm="lars", n_nonzero_coefs=5)
    assert code.dtype == np.float32
    ref = skd.sparse_encode(X32, D32, algorithm="lars", n_nonzero_coefs=5)
    np.testing.assert_allclose(code, ref, atol=1e-4)
    np.testing.assert_allclose(code, sparse_encode(X, D, algorithm="lars", n_nonzero_coefs=5),
                               atol=1e-4)


def test_lars_in_coders_and_learners():
    X, D = make_data(seed=1)
    coder = SparseCoder(D, transform_algorithm="lars", transform_n_nonzero_coefs=3)
    np.testing.assert_allclose(coder.transform(X), skd.SparseCoder(
        D, transform_algorithm="lars", transform_n_nonzero_coefs=3).transform(X), atol=1e-8)
    dico = DictionaryLearning(6, transform_algorithm="lars", transform_n_nonzero_coefs=3,
                              max_iter=5, random_state=0).fit(X)
    code = dico.transform(X)
    assert code.shape == (X.shape[0], 6)
    assert ((code != 0).sum(axis=1) <= 3).all()
    np.testing.assert_allclose(code, skd.sparse_encode(X, dico.components_, algorithm="lars",
                                                       n_nonzero_coefs=3), atol=1e-8)


def test_lars_more_steps_than_atoms_and_zero_signal():
    X, D = make_data(n_components=4, n_features=10)
    X[0] = 0
    code = sparse_encode(X, D, algorithm="lars", n_nonzero_coefs=9)   # not refused
    np.testing.assert_allclose(code, skd.sparse_encode(X, D, algorithm="lars",
                                                       n_nonzero_coefs=9), atol=1e-8)
    np.testing.assert_array_equal(code[0], 0)


def test_lars_degenerate_atoms_warn_once_per_encode():
    X, D = make_data(n_components=6, n_features=10)
    D[1] = D[0]                      # a duplicate atom cannot join the active set
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = sparse_encode(X, D, algorithm="lars", n_nonzero_coefs=6)
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(messages) == 1 and messages[0].startswith("Regressors in active set degenerate")
    assert np.isfinite(code).all()
    assert not ((code[:, 0] != 0) & (code[:, 1] != 0)).any()


@pytest.mark.parametrize("algorithm", ["lars", "omp"])
def test_positive_refused_with_sklearn_wording(algorithm):
    X, D = make_data()
    msg = f"Positive constraint not supported for '{algorithm}' coding method."
    with pytest.raises(ValueError, match=msg):
        sparse_encode(X, D, algorithm=algorithm, positive=True)
    coder = SparseCoder(D, transform_algorithm=algorithm, positive_code=True).fit(X)
    with pytest.raises(ValueError, match=msg):       # when it codes, as scikit-learn
        coder.transform(X)


def test_fit_algorithm_lars_refuses_positive_code():
    X, _ = make_data()
    msg = "Positive constraint not supported for 'lars' coding method."
    for est in (DictionaryLearning(3, positive_code=True),
                MiniBatchDictionaryLearning(3, positive_code=True)):
        with pytest.raises(ValueError, match=msg):
            est.fit(X)
    # a 'lars' transform with positive codes is refused only when it runs
    dico = DictionaryLearning(3, transform_algorithm="lars", positive_code=True,
                              fit_algorithm="cd", max_iter=3, random_state=0).fit(X)
    with pytest.raises(ValueError, match=msg):
        dico.transform(X)


# ---------------------------------------------------------------------------
# the function API
# ---------------------------------------------------------------------------
def test_dict_learning_returns_what_the_estimator_learns():
    X, _ = make_data()
    code, dictionary, errors = dict_learning(X, 5, alpha=1, max_iter=20, random_state=0)
    est = DictionaryLearning(5, alpha=1, max_iter=20, random_state=0,
                             transform_max_iter=1000)
    np.testing.assert_array_equal(code, est.fit_transform(X))
    np.testing.assert_array_equal(dictionary, est.components_)
    assert errors == est.error_
    out = dict_learning(X, 5, alpha=1, max_iter=20, random_state=0, return_n_iter=True,
                        method="cd")
    assert len(out) == 4 and out[3] == len(out[2]) <= 20
    assert fastfactor.dict_learning is dict_learning
    assert "dict_learning" in fastfactor.__all__


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_dict_learning_functions_dtypes(dtype):
    X, _ = make_data()
    X = (X * 10).astype(dtype)
    expected = np.float32 if dtype == np.float32 else np.float64
    code, dictionary, _ = dict_learning(X, 4, alpha=1, max_iter=5, random_state=0)
    assert code.dtype == dictionary.dtype == expected
    code, dictionary = dict_learning_online(X, 4, alpha=1, max_iter=5, batch_size=8,
                                            random_state=0)
    assert code.dtype == dictionary.dtype == expected


def test_dict_learning_online_returns_what_the_estimator_learns():
    X, _ = make_data()
    kw = dict(alpha=0.5, max_iter=5, batch_size=8, random_state=0)
    code, dictionary = dict_learning_online(X, 6, method="cd", **kw)
    est = MiniBatchDictionaryLearning(6, fit_algorithm="cd", transform_algorithm="lasso_cd",
                                      transform_alpha=0.5, **kw).fit(X)
    np.testing.assert_array_equal(dictionary, est.components_)
    np.testing.assert_array_equal(code, est.transform(X))
    only = dict_learning_online(X, 6, method="cd", return_code=False, **kw)
    np.testing.assert_array_equal(only, dictionary)
    assert dict_learning_online(X, batch_size=8, max_iter=2)[1].shape == (2, X.shape[1])


def test_dict_learning_functions_bad_parameters():
    X, _ = make_data()
    for func, args in ((dict_learning, (X, 3)), (dict_learning_online, (X, 3))):
        with pytest.raises(ValueError, match="The 'method' parameter"):
            func(*args, alpha=1, method="lasso")
        with pytest.raises(ValueError, match="Positive constraint not supported for 'lars'"):
            func(*args, alpha=1, max_iter=2, positive_code=True)
        with pytest.raises(ValueError, match="alpha"):
            func(*args, alpha=-1, max_iter=2)
    with pytest.raises(TypeError, match="return_n_iter"):
        dict_learning(X, 3, alpha=1, return_n_iter="yes")
    with pytest.raises(TypeError, match="dict_learning"):
        dict_learning(X, 3)                       # alpha is required, as in scikit-learn


# ---------------------------------------------------------------------------
# MiniBatchDictionaryLearning's running statistics
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inner_stats_follow_sklearn_definition_across_partial_fit(dtype):
    X, _ = make_data(n_samples=24, n_features=8)
    X = X.astype(dtype)
    rng = np.random.RandomState(1)
    V = rng.randn(5, 8).astype(dtype)
    est = MiniBatchDictionaryLearning(5, alpha=0.3, dict_init=V, fit_algorithm="cd",
                                      random_state=0)
    batches = np.array_split(X, 3)
    A = np.zeros((5, 5))
    B = np.zeros((8, 5))
    for step, batch in enumerate(batches):
        before = V.copy() if step == 0 else est.components_.copy()
        est.partial_fit(batch)
        code = sparse_encode(batch, before, algorithm="lasso_cd", alpha=0.3).astype(np.float64)
        n = batch.shape[0]
        theta = (step + 1) * n if step < n - 1 else n ** 2 + step + 1 - n
        beta = (theta + 1 - n) / (theta + 1)
        A = beta * A + code.T @ code / n
        B = beta * B + batch.T.astype(np.float64) @ code / n
        assert est._A.shape == (5, 5) and est._B.shape == (8, 5)
        assert est._A.dtype == est._B.dtype == dtype
        rtol = 1e-4 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(est._A, A, rtol=rtol, atol=rtol)
        np.testing.assert_allclose(est._B, B, rtol=rtol, atol=rtol)
    assert est.n_steps_ == 3


def test_inner_stats_close_to_sklearn_after_fit():
    X, _ = make_data(n_samples=40, n_features=8)
    kw = dict(n_components=5, alpha=0.5, batch_size=10, max_iter=3, fit_algorithm="cd",
              random_state=0, shuffle=False, tol=0, max_no_improvement=None,
              dict_init=np.random.RandomState(2).randn(5, 8))
    ours = MiniBatchDictionaryLearning(**kw).fit(X)
    ref = skd.MiniBatchDictionaryLearning(**kw).fit(X)
    np.testing.assert_allclose(ours._A, ref._A, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours._B, ref._B, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------
# dictionaries scikit-learn accepts or refuses
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_dictionary_refused_everywhere(bad):
    X, D = make_data()
    D[2, 3] = bad
    for algorithm in ("lasso_lars", "lars", "omp", "threshold"):
        with pytest.raises(ValueError, match="dictionary"):
            sparse_encode(X, D, algorithm=algorithm)
    with pytest.raises(ValueError, match="dictionary"):
        SparseCoder(D).fit(X)
    with pytest.raises(ValueError, match="dictionary"):
        SparseCoder(D).transform(X)


def test_zero_atom_dictionary_learning_dict_init():
    X, D = make_data(n_components=5)
    D[1] = 0
    est = MiniBatchDictionaryLearning(5, dict_init=D, batch_size=10, max_iter=2,
                                      random_state=0).fit(X)
    assert np.isfinite(est.components_).all()


def test_inverse_transform_wrong_width_has_sklearn_wording():
    X, D = make_data()
    coder = SparseCoder(D)
    with pytest.raises(ValueError, match=f"Expected {D.shape[0]}, got 3."):
        coder.inverse_transform(np.ones((2, 3)))


def test_lasso_lars_loop_emits_no_convergence_warning():
    # an overcomplete dictionary with a small penalty: scikit-learn's LARS
    # warns nothing, and a loop of encodes must not warn once per call here
    rng = np.random.default_rng(0)
    D = rng.normal(size=(128, 64))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Y = rng.normal(size=(20, 64))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        for _ in range(3):
            sparse_encode(Y, D, algorithm="lasso_lars", alpha=0.01)


@pytest.mark.parametrize("positive", [False, True])
def test_lasso_lars_equals_sklearn_where_the_descent_stalls(positive):
    # 40 unit atoms of 20 features: the descent leaves some signals short of
    # lasso_lars's gap in max_iter sweeps; the LARS homotopy finishes them
    rng = np.random.default_rng(5)
    D = rng.normal(size=(40, 20))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Y = rng.normal(size=(60, 20))
    ref = skd.sparse_encode(Y, D, algorithm="lasso_lars", alpha=0.1, positive=positive)
    code = sparse_encode(Y, D, algorithm="lasso_lars", alpha=0.1, positive=positive)
    np.testing.assert_allclose(code, ref, atol=1e-7)
    if positive:
        assert code.min() >= 0


def test_lasso_lars_path_limited_by_max_iter():
    # like scikit-learn's LassoLars(max_iter=...): a truncated path, no warning
    X, D = make_data(seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        code = sparse_encode(X, D, algorithm="lasso_lars", alpha=0.01, max_iter=1)
        np.testing.assert_array_equal(
            sparse_encode(X, D, algorithm="lasso_lars", alpha=0.01, max_iter=0), 0)
    assert ((code != 0).sum(axis=1) <= 2).all()
