"""MiniBatchNMF: same iterates as scikit-learn, streaming, API and bad input."""
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import fastfactor as ff
from conftest import low_rank_nonneg

sklearn = pytest.importorskip("sklearn")
from sklearn.decomposition import MiniBatchNMF as SkMiniBatchNMF  # noqa: E402


pytestmark = pytest.mark.filterwarnings("ignore::fastfactor.exceptions.ConvergenceWarning")


@pytest.mark.parametrize("beta,fresh,sparse", [
    (2.0, False, False), (2.0, True, False), (1.0, False, False), (1.0, True, False),
    (0.5, False, False), (3.0, True, False), (2.0, False, True), (1.0, False, True),
])
def test_same_iterates_as_sklearn_from_same_init(beta, fresh, sparse, rng):
    X = low_rank_nonneg(rng, 150, 40, 5)
    if sparse:
        X[X < 0.9] = 0
        X = sp.csr_matrix(X)
    W0, H0 = rng.random((150, 4)), rng.random((4, 40))
    kw = dict(n_components=4, init="custom", batch_size=32, beta_loss=beta, max_iter=4,
              fresh_restarts=fresh, fresh_restarts_max_iter=5, transform_max_iter=7,
              alpha_W=0.01, l1_ratio=0.3, forget_factor=0.6)
    sk = SkMiniBatchNMF(**kw)
    W_sk = sk.fit_transform(X, W=W0.copy(), H=H0.copy())
    ours = ff.MiniBatchNMF(**kw, max_inner_iter=1)
    W_ff = ours.fit_transform(X, W=W0.copy(), H=H0.copy())
    np.testing.assert_allclose(W_ff, W_sk, rtol=1e-8, atol=1e-12 * W_sk.max())
    np.testing.assert_allclose(ours.components_, sk.components_, rtol=1e-8,
                               atol=1e-12 * sk.components_.max())
    assert ours.n_steps_ == sk.n_steps_ and ours.n_iter_ == sk.n_iter_
    assert ours.reconstruction_err_ == pytest.approx(sk.reconstruction_err_, rel=1e-9)
    np.testing.assert_allclose(ours.transform(X), sk.transform(X), rtol=1e-8,
                               atol=1e-12 * W_sk.max())


def test_early_stopping_matches_sklearn(rng):
    X = low_rank_nonneg(rng, 200, 30, 4)
    kw = dict(n_components=4, init="nndsvda", batch_size=50, max_iter=100, tol=1e-3,
              max_no_improvement=3, random_state=0)
    sk = SkMiniBatchNMF(**kw).fit(X)
    ours = ff.MiniBatchNMF(**kw, max_inner_iter=1).fit(X)
    assert ours.n_steps_ == sk.n_steps_ < 100 * 4
    # ~100 steps of rounding differences (summation order) on entries 100x below the max
    np.testing.assert_allclose(ours.components_, sk.components_, rtol=1e-7,
                               atol=1e-8 * sk.components_.max())


def test_partial_fit_matches_sklearn_streaming(rng):
    X = low_rank_nonneg(rng, 120, 30, 4)
    sk = SkMiniBatchNMF(3, init="nndsvda", random_state=0)
    ours = ff.MiniBatchNMF(3, init="nndsvda", random_state=0, max_inner_iter=1)
    for chunk in np.array_split(X, 6):
        sk.partial_fit(chunk)
        ours.partial_fit(chunk)
    np.testing.assert_allclose(ours.components_, sk.components_, rtol=1e-7, atol=1e-10)
    assert ours.n_steps_ == sk.n_steps_ == 6


def test_accelerated_default_reaches_lower_loss_in_same_steps(rng):
    X = low_rank_nonneg(rng, 400, 120, 6)
    kw = dict(n_components=6, init="nndsvda", batch_size=100, max_iter=5, tol=0,
              max_no_improvement=None)
    plain = ff.MiniBatchNMF(**kw, max_inner_iter=1).fit(X)
    fast = ff.MiniBatchNMF(**kw).fit(X)
    assert fast.n_steps_ == plain.n_steps_
    assert fast.reconstruction_err_ < plain.reconstruction_err_


def test_memmap_and_streamed_fits(rng, tmp_path):
    X = low_rank_nonneg(rng, 200, 30, 4)
    path = tmp_path / "X.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    kw = dict(n_components=4, random_state=0, batch_size=64, max_iter=5)
    a = ff.MiniBatchNMF(**kw).fit(X)
    b = ff.MiniBatchNMF(**kw).fit(mapped)
    np.testing.assert_array_equal(a.components_, b.components_)
    stream = ff.MiniBatchNMF(**kw)
    for start in range(0, 200, 50):
        stream.partial_fit(mapped[start:start + 50])
    assert stream.n_steps_ == 4 and stream.components_.shape == (4, 30)


def test_check_estimator_passes():
    from sklearn.utils.estimator_checks import check_estimator

    # scikit-learn checks its own MiniBatchNMF with fresh_restarts=True: without
    # it, W from fit (one update per pass) and from transform (a full solve)
    # differ beyond the checks' tolerance, for scikit-learn's estimator too.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(ff.MiniBatchNMF(n_components=2, max_iter=20,
                                                  fresh_restarts=True), on_fail=None)
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed
    assert len(results) > 30


def test_api_clone_pickle_float32_threads(rng, monkeypatch):
    from sklearn.base import clone

    from fastfactor import kernels
    from fastfactor._utils.threads import openmp_enabled

    if not openmp_enabled():
        pytest.skip("built without OpenMP: every run has one thread")
    # this problem is small enough that every kernel call would run on one
    # thread: lift the thresholds, so the two-thread fit really has two
    monkeypatch.setattr("fastfactor._utils.threads.MIN_PARALLEL_SIZE", 1)
    monkeypatch.setattr("fastfactor._utils.threads.MIN_WORK_PER_THREAD", 1)
    received = []  # the n_threads of every multiplicative update
    mu_update = kernels.mu_update

    def recording_mu_update(*args, n_threads=None, **kwargs):
        received.append(n_threads)
        return mu_update(*args, n_threads=n_threads, **kwargs)

    monkeypatch.setattr(kernels, "mu_update", recording_mu_update)
    X = low_rank_nonneg(rng, 100, 20, 3, dtype=np.float32)
    model = ff.MiniBatchNMF(3, batch_size=30, max_iter=5, random_state=0, n_threads=2)
    assert clone(model).get_params() == model.get_params()
    W = model.fit_transform(X)
    assert received and set(received) == {2}
    assert W.dtype == np.float32 and model.components_.dtype == np.float32
    assert model.transform(X).dtype == np.float32
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.transform(X), model.transform(X))
    again = ff.MiniBatchNMF(3, batch_size=30, max_iter=5, random_state=0, n_threads=2).fit(X)
    assert np.array_equal(again.components_, model.components_)
    received.clear()
    one = ff.MiniBatchNMF(3, batch_size=30, max_iter=5, random_state=0, n_threads=1).fit(X)
    assert received and set(received) == {1}
    np.testing.assert_allclose(one.components_, model.components_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.inverse_transform(W), W @ model.components_, rtol=1e-6)


def test_bad_inputs(rng):
    X = low_rank_nonneg(rng, 20, 6, 2)
    with pytest.raises(ValueError,
                       match=r"Negative values in data passed to MiniBatchNMF \(input X\)"):
        ff.MiniBatchNMF(2).fit(-X)
    with pytest.raises(ValueError, match="beta_loss.*zeros"):
        ff.MiniBatchNMF(2, beta_loss="itakura-saito").fit(np.vstack([X, np.zeros((1, 6))]))
    model = ff.MiniBatchNMF(2, max_iter=3).fit(X)
    with pytest.raises(ValueError, match="X has 5 features, but MiniBatchNMF is expecting 6"):
        model.transform(X[:, :5])
    with pytest.raises(ValueError, match="X has 5 features"):
        model.partial_fit(X[:, :5])
    with pytest.raises(ff.NotFittedError):
        ff.MiniBatchNMF(2).transform(X)
