"""NMF: agreement with scikit-learn, the estimator API, inputs and bad inputs."""
import pickle
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import fastfactor as ff
from fastfactor.exceptions import ConvergenceWarning
from fastfactor.nmf import initialize_nmf
from conftest import low_rank_nonneg

sklearn = pytest.importorskip("sklearn")
from sklearn.decomposition import NMF as SkNMF  # noqa: E402
from sklearn.decomposition import _nmf as sk_nmf  # noqa: E402


pytestmark = pytest.mark.filterwarnings("ignore::fastfactor.exceptions.ConvergenceWarning")


def _custom_init(rng, m, n, k, dtype=np.float64):
    return rng.random((m, k)).astype(dtype), rng.random((k, n)).astype(dtype)


SOLVER_BETAS = [("cd", 2.0), ("mu", 2.0), ("mu", 1.0), ("mu", 0.0), ("mu", 0.5), ("mu", 1.5),
                ("mu", 3.0)]


# ----------------------------------------------------------------- scikit-learn

@pytest.mark.parametrize("solver,beta,sparse", [
    (solver, beta, sparse) for solver, beta in SOLVER_BETAS for sparse in (False, True)
    # beta <= 0 is undefined at the zeros a sparse X holds
    if not (sparse and beta <= 0)
])
def test_same_iterates_as_sklearn_from_same_init(solver, beta, sparse, rng):
    X = low_rank_nonneg(rng, 60, 45, 5)
    if sparse:
        X[X < 0.9] = 0
        X = sp.csr_matrix(X)
    W0, H0 = _custom_init(rng, 60, 45, 4)
    kw = dict(n_components=4, init="custom", solver=solver, beta_loss=beta, max_iter=30,
              tol=0, alpha_W=0.01, l1_ratio=0.3)
    sk = SkNMF(**kw)
    W_sk = sk.fit_transform(X, W=W0.copy(), H=H0.copy())
    extra = {"max_inner_iter": 1} if solver == "cd" else {}
    ours = ff.NMF(**kw, **extra)
    W_ff = ours.fit_transform(X, W=W0.copy(), H=H0.copy())
    np.testing.assert_allclose(W_ff, W_sk, rtol=1e-8, atol=1e-10 * W_sk.max())
    np.testing.assert_allclose(ours.components_, sk.components_, rtol=1e-8,
                               atol=1e-10 * sk.components_.max())
    assert ours.reconstruction_err_ == pytest.approx(sk.reconstruction_err_, rel=1e-9)
    assert ours.n_iter_ == sk.n_iter_


@pytest.mark.parametrize("shuffle", [False, True])
def test_cd_shuffle_uses_the_same_random_stream_as_sklearn(shuffle, rng):
    X = low_rank_nonneg(rng, 40, 30, 4)
    W0, H0 = _custom_init(rng, 40, 30, 3)
    kw = dict(n_components=3, init="custom", shuffle=shuffle, random_state=7, max_iter=20,
              tol=0)
    W_sk = SkNMF(**kw).fit_transform(X, W=W0.copy(), H=H0.copy())
    W_ff = ff.NMF(**kw, max_inner_iter=1).fit_transform(X, W=W0.copy(), H=H0.copy())
    np.testing.assert_allclose(W_ff, W_sk, rtol=1e-9)


@pytest.mark.parametrize("init", ["random", "nndsvd", "nndsvda", "nndsvdar"])
def test_initialization_matches_sklearn(init, rng):
    X = low_rank_nonneg(rng, 50, 40, 6)
    W_sk, H_sk = sk_nmf._initialize_nmf(X, 5, init=init, random_state=3)
    W_ff, H_ff = initialize_nmf(X, 5, init=init, random_state=3)
    np.testing.assert_allclose(W_ff, W_sk, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(H_ff, H_sk, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("sparse", [False, True])
def test_accelerated_hals_reaches_sklearn_loss_at_convergence(sparse, rng):
    X = low_rank_nonneg(rng, 120, 80, 8)
    if sparse:
        X[X < 1.0] = 0
        X = sp.csr_matrix(X)
    sk = SkNMF(6, init="nndsvda", tol=1e-6, max_iter=2000).fit(X)
    ours = ff.NMF(6, init="nndsvda", tol=1e-6, max_iter=2000).fit(X)
    # both are local solvers: same loss within 1%
    assert ours.reconstruction_err_ <= sk.reconstruction_err_ * 1.01
    assert ours.n_iter_ < sk.n_iter_


def test_accelerated_hals_loss_decreases_monotonically(rng):
    X = low_rank_nonneg(rng, 80, 60, 6)
    model = ff.NMF(5, max_iter=60, tol=0).fit(X)
    losses = np.array(model.loss_history_)
    assert np.all(np.diff(losses) <= 1e-9 * losses[0])
    # the cheap Gram-identity loss agrees with the exact one
    assert np.sqrt(2 * losses[-1]) == pytest.approx(model.reconstruction_err_, rel=1e-9)


@pytest.mark.parametrize("solver,beta", [("cd", 2.0), ("mu", 2.0), ("mu", 1.0)])
def test_transform_matches_sklearn(solver, beta, rng):
    X = low_rank_nonneg(rng, 50, 30, 4)
    H = rng.random((3, 30))
    kw = dict(n_components=3, solver=solver, beta_loss=beta, max_iter=50, tol=0)
    W_sk, _, _ = sklearn.decomposition.non_negative_factorization(
        X, H=H, update_H=False, **kw)
    extra = {"max_inner_iter": 1} if solver == "cd" else {}
    W_ff, H_ff, n_iter = ff.non_negative_factorization(X, H=H, update_H=False, **kw, **extra)
    np.testing.assert_allclose(W_ff, W_sk, rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(H_ff, H)


def test_check_estimator_passes():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(ff.NMF(n_components=2, max_iter=50), on_fail=None)
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed
    assert len(results) > 30


# ---------------------------------------------------------------- estimator API

def test_fitted_attributes_and_methods(rng):
    X = low_rank_nonneg(rng, 30, 20, 3)
    model = ff.NMF(3, random_state=0)
    W = model.fit_transform(X)
    assert W.shape == (30, 3) and model.components_.shape == (3, 20)
    assert model.n_components_ == 3 and model.n_features_in_ == 20
    assert model.n_iter_ >= 1 and model.reconstruction_err_ > 0
    assert (W >= 0).all() and (model.components_ >= 0).all()
    np.testing.assert_allclose(model.inverse_transform(W), W @ model.components_)
    W2 = model.transform(X)
    assert np.linalg.norm(W2 @ model.components_ - X) <= 1.05 * np.linalg.norm(W @ model.components_ - X)
    assert list(model.get_feature_names_out()) == ["nmf0", "nmf1", "nmf2"]


def test_n_components_auto_and_none(rng):
    X = low_rank_nonneg(rng, 30, 8, 3)
    assert ff.NMF(init="random", max_iter=5).fit(X).n_components_ == 8
    assert ff.NMF(None, init="random", max_iter=5).fit(X).n_components_ == 8
    W0, H0 = _custom_init(rng, 30, 8, 4)
    assert ff.NMF(init="custom", max_iter=5).fit(X, W=W0, H=H0).n_components_ == 4


def test_get_set_params_clone_pickle(rng):
    from sklearn.base import clone

    model = ff.NMF(4, solver="mu", beta_loss="kullback-leibler", alpha_W=0.1)
    params = model.get_params()
    assert params["beta_loss"] == "kullback-leibler" and params["n_components"] == 4
    model.set_params(max_iter=33)
    assert model.max_iter == 33
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        model.set_params(bogus=1)
    cloned = clone(model)
    assert cloned.get_params() == model.get_params()
    X = low_rank_nonneg(rng, 20, 10, 3)
    model.fit(X)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.components_, model.components_)
    np.testing.assert_array_equal(restored.transform(X), model.transform(X))
    assert "beta_loss='kullback-leibler'" in repr(model)


def test_dataframe_feature_names(rng):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(low_rank_nonneg(rng, 20, 4, 2), columns=["a", "b", "c", "d"])
    model = ff.NMF(2, max_iter=20).fit(X)
    assert list(model.feature_names_in_) == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="feature names"):
        model.transform(X.rename(columns={"a": "z"}))


@pytest.mark.parametrize("solver", ["cd", "mu"])
@pytest.mark.parametrize("sparse", [False, True])
def test_float32_stays_float32(solver, sparse, rng):
    X = low_rank_nonneg(rng, 40, 25, 3, dtype=np.float32)
    if sparse:
        X = sp.csr_matrix(X)
    model = ff.NMF(3, solver=solver, max_iter=30)
    W = model.fit_transform(X)
    assert W.dtype == np.float32 and model.components_.dtype == np.float32
    assert model.transform(X).dtype == np.float32
    W64 = ff.NMF(3, solver=solver, max_iter=30).fit_transform(
        X.astype(np.float64))
    np.testing.assert_allclose(W, W64, rtol=2e-2, atol=1e-3 * W64.max())


def test_unusual_but_valid_inputs(rng, tmp_path):
    X = low_rank_nonneg(rng, 30, 20, 3)
    ref = ff.NMF(3, random_state=0, max_iter=30).fit_transform(X)
    fortran = np.asfortranarray(X)
    strided = np.repeat(X, 2, axis=1)[:, ::2]
    readonly = X.copy()
    readonly.setflags(write=False)
    path = tmp_path / "X.npy"
    np.save(path, X)
    memmapped = np.load(path, mmap_mode="r")
    for variant in (fortran, strided, readonly, memmapped, X.tolist(),
                    sp.csc_matrix(X), sp.coo_array(X)):
        W = ff.NMF(3, random_state=0, max_iter=30).fit_transform(variant)
        np.testing.assert_allclose(W, ref, rtol=1e-8, atol=1e-10)
    integers = (X * 10).astype(np.int64)
    W = ff.NMF(3, random_state=0, max_iter=30).fit_transform(integers)
    assert W.dtype == np.float64
    # the caller's arrays are not modified
    assert not readonly.flags.writeable and np.array_equal(readonly, X)


def test_sparse_input_is_not_densified(rng, monkeypatch):
    X = sp.random(300, 200, density=0.05, format="csr", random_state=0)

    def forbid(*args, **kwargs):
        raise AssertionError("the whole sparse X was densified")

    monkeypatch.setattr(sp.csr_matrix, "toarray", forbid)
    for solver, beta in [("cd", 2), ("mu", 2), ("mu", 1)]:
        ff.NMF(5, solver=solver, beta_loss=beta, init="random", random_state=0,
               max_iter=5).fit(X)


# ------------------------------------------------------------------ reliability

def test_same_seed_and_threads_bitwise_identical(rng, monkeypatch):
    # small inputs normally run on one thread; make the two-thread runs real
    monkeypatch.setattr("fastfactor._utils.threads.MIN_WORK_PER_THREAD", 1)
    X = low_rank_nonneg(rng, 80, 50, 5)
    a = ff.NMF(4, init="random", random_state=1, shuffle=True, n_threads=2).fit(X)
    b = ff.NMF(4, init="random", random_state=1, shuffle=True, n_threads=2).fit(X)
    assert np.array_equal(a.components_, b.components_)
    c = ff.NMF(4, init="random", random_state=1, shuffle=True, n_threads=1).fit(X)
    np.testing.assert_allclose(c.components_, a.components_, rtol=1e-9, atol=1e-12)


def test_concurrent_fits_in_python_threads(rng, monkeypatch):
    monkeypatch.setattr("fastfactor._utils.threads.MIN_WORK_PER_THREAD", 1)
    X = low_rank_nonneg(rng, 200, 120, 6)
    configs = [dict(solver="cd"), dict(solver="mu"), dict(solver="mu", beta_loss=1)]
    expected = [ff.NMF(5, random_state=0, max_iter=40, **c).fit(X).components_ for c in configs]
    results = [None] * (2 * len(configs))

    def work(slot):
        cfg = configs[slot % len(configs)]
        results[slot] = ff.NMF(5, random_state=0, max_iter=40, **cfg).fit(X).components_

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, got in enumerate(results):
        assert np.array_equal(got, expected[i % len(configs)])


# -------------------------------------------------------------------- bad input

@pytest.mark.parametrize("X,error,match", [
    (np.array([[1.0, -0.3], [2.0, 1.0]]), ValueError, r"Negative values.*min found: -0\.3"),
    # a NaN is a missing entry (masked NMF), but a row with none observed is an error
    (np.array([[np.nan, np.nan], [2.0, 1.0]]), ValueError, "no observed entry"),
    (np.array([[1.0, np.inf], [2.0, 1.0]]), ValueError, "infinity"),
    (np.ones(5), ValueError, "Expected 2D array"),
    (np.ones((2, 2, 2)), ValueError, "Expected 2D array"),
    (np.ones((0, 3)), ValueError, "0 sample"),
    (np.ones((3, 0)), ValueError, "0 feature"),
    (np.ones((3, 3), dtype=complex), ValueError, "Complex data"),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "must hold numbers"),
    (np.array([[1.0, {}]], dtype=object), TypeError, "could not be converted"),
])
def test_bad_X(X, error, match):
    with pytest.raises(error, match=match):
        ff.NMF(1).fit(X)


def test_beta_loss_nonpositive_with_zeros(rng):
    X = low_rank_nonneg(rng, 10, 6, 2)
    X[0, 0] = 0
    with pytest.raises(ValueError, match="beta_loss.*zeros"):
        ff.NMF(2, solver="mu", beta_loss="itakura-saito").fit(X)
    with pytest.raises(ValueError, match="beta_loss.*zeros"):
        ff.NMF(2, solver="mu", beta_loss=-0.5).fit(sp.csr_matrix(X))


def test_bad_custom_init(rng):
    X = low_rank_nonneg(rng, 10, 6, 2)
    W, H = _custom_init(rng, 10, 6, 2)
    with pytest.raises(ValueError, match=r"wrong first dimension passed to NMF \(input W\)"):
        ff.NMF(2, init="custom").fit(X, W=W[:5], H=H)
    with pytest.raises(ValueError, match=r"Negative values in data passed to NMF \(input H\)"):
        ff.NMF(2, init="custom").fit(X, W=W, H=-H)
    with pytest.raises(ValueError, match="full of zeros"):
        ff.NMF(2, init="custom").fit(X, W=np.zeros_like(W), H=H)
    with pytest.raises(ValueError, match="must be an array-like"):
        ff.NMF(2, init="custom").fit(X, W=None, H=H)


def test_transform_checks(rng):
    X = low_rank_nonneg(rng, 10, 6, 2)
    with pytest.raises(ff.NotFittedError, match="not fitted"):
        ff.NMF(2).transform(X)
    model = ff.NMF(2, max_iter=10).fit(X)
    with pytest.raises(ValueError, match="X has 5 features, but NMF is expecting 6"):
        model.transform(X[:, :5])
    with pytest.raises(ValueError, match="Negative values"):
        model.transform(-X)
    with pytest.raises(ValueError, match="X has 3 columns"):
        model.inverse_transform(np.ones((2, 3)))


def test_convergence_warning(rng):
    X = low_rank_nonneg(rng, 20, 10, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ConvergenceWarning, match="Maximum number of iterations 2"):
            ff.NMF(3, max_iter=2).fit(X)


@pytest.mark.parametrize("solver, state, missing", [
    ("cd", {"n_iter": 1}, "'W', 'Ht'"),
    ("cd", {"n_iter": 1, "losses": []}, "'violation_init'"),
    ("mu", {"n_iter": 1, "losses": [], "error_at_init": 1.0}, "'previous_error'"),
])
def test_incomplete_resume_state_is_named(solver, state, missing):
    from fastfactor.checkpoint import CheckpointError

    X = low_rank_nonneg(np.random.default_rng(0), 20, 10, 3)
    if "W" not in missing:
        state = dict(state, W=np.full((20, 3), 0.5), Ht=np.full((10, 3), 0.5))
    with pytest.raises(CheckpointError, match=f"lacks {missing}"):
        ff.NMF(3, solver=solver, max_iter=5)._fit_checkpointed(X, resume=state)
