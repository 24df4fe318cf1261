"""GaussianMixture: same EM as scikit-learn, the API, numerics, memory and bad input."""
import copy
import pickle
import tracemalloc
import warnings

import numpy as np
import pytest

import fastfactor as ff
from fastfactor import kernels, reference, selftest
from fastfactor.selftest._cases_gmm import random_precisions_cholesky
from fastfactor.mixture._gaussian_mixture import COVARIANCE_TYPES, INIT_PARAMS
from fastfactor.mixture._m_step import _precisions_cholesky_from_precisions

try:
    from sklearn.mixture import GaussianMixture as SkGMM
except ImportError:  # pragma: no cover - the comparisons need scikit-learn
    SkGMM = None

needs_sklearn = pytest.mark.skipif(SkGMM is None, reason="needs scikit-learn")


def blobs(n_per=120, d=4, k=3, seed=0, spread=4.0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    C = rng.normal(0, spread, size=(k, d))
    X = np.concatenate([rng.normal(c, 1.0, size=(n_per, d)) for c in C])
    return X.astype(dtype)


def initial_params(X, k, covariance_type, seed=1):
    """Initial weights, means and precisions (not the solution) for both libraries."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    weights = rng.dirichlet(np.ones(k) * 3)
    means = X[rng.choice(len(X), k, replace=False)] + rng.normal(scale=0.3, size=(k, d))
    chol = random_precisions_cholesky(rng, covariance_type, k, d) * 0.5
    if covariance_type == "full":
        prec = chol @ chol.transpose(0, 2, 1)
    elif covariance_type == "tied":
        prec = chol @ chol.T
    else:
        prec = chol ** 2
    return dict(weights_init=weights, means_init=means, precisions_init=prec)


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ff.ConvergenceWarning)
        yield


# ------------------------------------------------------------- kernels vs twins

GMM_CASES = sorted(c for c in selftest.all_cases() if c.startswith(("gmm", "kmeans")))


@pytest.mark.parametrize("case", GMM_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gmm_kernels_match_their_twins(case, dtype):
    for shape in selftest.SHAPES + [(257, 9, 7), (1000, 3, 2)]:
        err = selftest.max_relative_error(case, *shape, dtype, seed=sum(shape))
        assert err <= selftest.RTOL[dtype], f"{case} {shape}: {err}"


def test_em_step_statistics_by_hand():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    w, means = np.array([0.3, 0.7]), rng.normal(size=(2, 3))
    prec = np.ones((2, 3))
    ll, nk, s1, s2 = kernels.gmm_em_step(X, w, means, prec, "diag")
    lp = np.stack([np.log(wk) - 0.5 * (3 * np.log(2 * np.pi) + ((X - m) ** 2).sum(1))
                   for wk, m in zip(w, means)], axis=1)
    lse = np.logaddexp(lp[:, 0], lp[:, 1])
    resp = np.exp(lp - lse[:, None])
    np.testing.assert_allclose(ll, lse.sum(), rtol=1e-13)
    np.testing.assert_allclose(nk, resp.sum(0), rtol=1e-13)
    np.testing.assert_allclose(s1, resp.T @ X, rtol=1e-12)
    np.testing.assert_allclose(s2, resp.T @ X ** 2, rtol=1e-12)


@pytest.fixture
def force_threads(monkeypatch):
    """Use the threads asked for even on inputs too small to be worth it."""
    monkeypatch.setattr("fastfactor._utils.threads.MIN_WORK_PER_THREAD", 1)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_step_thread_counts(covariance_type, force_threads):
    X = blobs(400, 5, 3)
    p = initial_params(X, 3, covariance_type)
    prec_chol = _precisions_cholesky_from_precisions(p["precisions_init"],
                                                                covariance_type)
    args = (X, p["weights_init"], p["means_init"], prec_chol, covariance_type)
    one = kernels.gmm_em_step(*args, center=X.mean(0), n_threads=1)
    two = kernels.gmm_em_step(*args, center=X.mean(0), n_threads=2)
    again = kernels.gmm_em_step(*args, center=X.mean(0), n_threads=2)
    for a, b, c in zip(one, two, again):
        if a is not None:
            assert np.array_equal(a, b) and np.array_equal(b, c)


# ------------------------------------------------- the same EM as scikit-learn

@needs_sklearn
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_log_likelihood_as_sklearn_from_same_init(covariance_type):
    X = blobs(150, 5, 4, seed=3)
    params = dict(n_components=4, covariance_type=covariance_type, max_iter=25, tol=0,
                  **initial_params(X, 4, covariance_type))
    sk = SkGMM(**copy.deepcopy(params)).fit(X)
    ours = ff.GaussianMixture(**params).fit(X)
    assert ours.n_iter_ == sk.n_iter_ == 25
    np.testing.assert_allclose(ours.lower_bounds_, sk.lower_bounds_, rtol=1e-8)
    np.testing.assert_allclose(ours.lower_bound_, sk.lower_bound_, rtol=1e-8)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(sk, name), rtol=1e-6,
                                   atol=1e-9, err_msg=name)
    np.testing.assert_allclose(ours.score_samples(X), sk.score_samples(X), rtol=1e-8)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-8)
    assert np.array_equal(ours.predict(X), sk.predict(X))
    np.testing.assert_allclose(ours.bic(X), sk.bic(X), rtol=1e-8)
    np.testing.assert_allclose(ours.aic(X), sk.aic(X), rtol=1e-8)


@needs_sklearn
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_same_fit_as_sklearn_for_every_init(covariance_type, init_params):
    X = blobs(100, 3, 3, seed=5)
    params = dict(n_components=3, covariance_type=covariance_type, init_params=init_params,
                  random_state=0, max_iter=20, tol=0)
    sk = SkGMM(**params).fit(X)
    ours = ff.GaussianMixture(**params).fit(X)
    # a single-point initial covariance (random_from_data, k-means++) is
    # reg_covar plus rounding noise in scikit-learn: only the first lower
    # bound (~ -1e6) can differ, by that noise
    first = 1 if init_params in ("random_from_data", "k-means++") else 0
    np.testing.assert_allclose(ours.lower_bounds_[first:], sk.lower_bounds_[first:],
                               rtol=1e-8)
    np.testing.assert_allclose(ours.lower_bounds_[:first], sk.lower_bounds_[:first],
                               rtol=1e-6)
    np.testing.assert_allclose(ours.means_, sk.means_, rtol=1e-6, atol=1e-8)


@needs_sklearn
def test_convergence_bookkeeping_matches_sklearn():
    X = blobs(200, 3, 3, seed=2)
    for kw in (dict(tol=1e-3), dict(tol=1e-1), dict(n_init=3, tol=1e-4),
               dict(max_iter=3)):
        params = dict(n_components=3, random_state=7, **kw)
        sk = SkGMM(**params).fit(X)
        ours = ff.GaussianMixture(**params).fit(X)
        assert ours.n_iter_ == sk.n_iter_
        assert ours.converged_ == sk.converged_
        np.testing.assert_allclose(ours.lower_bounds_, sk.lower_bounds_, rtol=1e-8)


@needs_sklearn
def test_warm_start_and_max_iter_zero_like_sklearn():
    X = blobs(150, 3, 3, seed=4)
    params = dict(n_components=3, warm_start=True, max_iter=2, random_state=0, tol=0)
    sk, ours = SkGMM(**params), ff.GaussianMixture(**params)
    for _ in range(3):
        sk.fit(X)
        ours.fit(X)
        np.testing.assert_allclose(ours.lower_bounds_, sk.lower_bounds_, rtol=1e-8)
    zero = dict(n_components=3, max_iter=0, random_state=0)
    sk0, ours0 = SkGMM(**zero).fit(X), ff.GaussianMixture(**zero).fit(X)
    assert ours0.n_iter_ == 0 and ours0.lower_bounds_ == [] and ours0.lower_bound_ == -np.inf
    np.testing.assert_allclose(ours0.means_, sk0.means_, rtol=1e-10)


@needs_sklearn
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_like_sklearn(covariance_type):
    X = blobs(100, 3, 2, seed=1)
    params = dict(n_components=2, covariance_type=covariance_type, random_state=3)
    sk, ours = SkGMM(**params).fit(X), ff.GaussianMixture(**params).fit(X)
    Xs, ys = sk.sample(500)
    Xo, yo = ours.sample(500)
    assert Xo.shape == (500, 3) and Xo.dtype == np.float64
    assert np.array_equal(yo, ys)
    np.testing.assert_allclose(Xo, Xs, rtol=1e-6, atol=1e-6)


def test_sample_draws_from_the_model():
    X = blobs(2000, 2, 2, seed=0, spread=8)
    gm = ff.GaussianMixture(2, random_state=0).fit(X)
    Xs, y = gm.sample(20000)
    for k in range(2):
        np.testing.assert_allclose(Xs[y == k].mean(0), gm.means_[k], atol=0.05)
        np.testing.assert_allclose(np.cov(Xs[y == k].T), gm.covariances_[k], atol=0.08)
    with pytest.raises(ValueError, match="n_samples"):
        gm.sample(0)


# ------------------------------------------------------------------ API

def test_fit_predict_matches_fit_then_predict():
    X = blobs(80, 3, 3)
    labels = ff.GaussianMixture(3, random_state=0).fit_predict(X)
    gm = ff.GaussianMixture(3, random_state=0).fit(X)
    assert np.array_equal(labels, gm.predict(X))
    assert labels.shape == (240,)


def test_fitted_attributes_and_shapes():
    X = blobs(60, 4, 3)
    shapes = {"full": (3, 4, 4), "tied": (4, 4), "diag": (3, 4), "spherical": (3,)}
    for cov, shape in shapes.items():
        gm = ff.GaussianMixture(3, covariance_type=cov, random_state=0).fit(X)
        assert gm.weights_.shape == (3,) and gm.means_.shape == (3, 4)
        assert gm.covariances_.shape == gm.precisions_.shape == shape
        assert gm.precisions_cholesky_.shape == shape
        assert gm.n_features_in_ == 4 and isinstance(gm.converged_, bool)
        assert len(gm.lower_bounds_) == gm.n_iter_
        np.testing.assert_allclose(gm.weights_.sum(), 1.0)
        assert gm.predict_proba(X).shape == (180, 3)
        assert np.isfinite(gm.score(X)) and np.isfinite(gm.bic(X)) and np.isfinite(gm.aic(X))
        if cov in ("full", "tied"):
            inv = np.linalg.inv(gm.covariances_)
            np.testing.assert_allclose(gm.precisions_, inv, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_given_precisions_without_iterations(covariance_type):
    X = blobs(60, 3, 2)
    p = initial_params(X, 2, covariance_type)
    gm = ff.GaussianMixture(2, covariance_type=covariance_type, max_iter=0, **p).fit(X)
    np.testing.assert_allclose(gm.precisions_, p["precisions_init"], rtol=1e-10)
    np.testing.assert_allclose(gm.means_, p["means_init"])
    if covariance_type in ("full", "tied"):
        np.testing.assert_allclose(gm.covariances_, np.linalg.inv(p["precisions_init"]),
                                   rtol=1e-10)
    else:
        np.testing.assert_allclose(gm.covariances_, 1 / p["precisions_init"], rtol=1e-12)
    assert np.isfinite(gm.score(X))


def test_float32_stays_float32():
    X = blobs(100, 3, 2, dtype=np.float32)
    for cov in COVARIANCE_TYPES:
        gm = ff.GaussianMixture(2, covariance_type=cov, random_state=0).fit(X)
        for name in ("weights_", "means_", "covariances_", "precisions_",
                     "precisions_cholesky_"):
            assert getattr(gm, name).dtype == np.float32, (cov, name)
        assert gm.predict_proba(X).dtype == np.float32
        assert gm.score_samples(X).dtype == np.float32
        X64 = X.astype(np.float64)
        gm64 = ff.GaussianMixture(2, covariance_type=cov, random_state=0).fit(X64)
        np.testing.assert_allclose(gm.lower_bound_, gm64.lower_bound_, rtol=1e-5)


def test_clone_pickle_params_and_repr():
    X = blobs(40, 2, 2)
    gm = ff.GaussianMixture(2, covariance_type="diag", n_init=2, random_state=0)
    assert gm.get_params()["n_init"] == 2
    assert "covariance_type='diag'" in repr(gm)
    gm.fit(X)
    again = pickle.loads(pickle.dumps(gm))
    np.testing.assert_array_equal(again.predict(X), gm.predict(X))
    gm.set_params(n_components=1)
    assert gm.n_components == 1


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(blobs(40, 2, 2), columns=["a", "b"])
    gm = ff.GaussianMixture(2, random_state=0).fit(X)
    assert list(gm.feature_names_in_) == ["a", "b"]
    gm.predict(X)


def test_verbose_output(capsys):
    X = blobs(40, 2, 2)
    ff.GaussianMixture(2, verbose=2, verbose_interval=1, max_iter=3, tol=0,
                       random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out and "Iteration 3" in out and "lower bound" in out


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_result_for_one_and_two_threads(covariance_type, force_threads):
    # blocks of tiles keep their own sums, added in block order: the thread
    # count does not change a single bit
    X = blobs(2000, 4, 3)
    fits = [ff.GaussianMixture(3, covariance_type=covariance_type, random_state=0,
                               n_threads=nt).fit(X) for nt in (1, 2, 2)]
    for other in fits[1:]:
        assert other.lower_bounds_ == fits[0].lower_bounds_
        assert np.array_equal(other.covariances_, fits[0].covariances_)
        assert np.array_equal(other.predict_proba(X), fits[0].predict_proba(X))


def test_n_jobs_is_another_name_for_n_threads(force_threads):
    X = blobs(300, 4, 3)
    by_threads = ff.GaussianMixture(3, random_state=0, n_threads=2).fit(X)
    by_jobs = ff.GaussianMixture(3, random_state=0, n_jobs=2).fit(X)
    assert by_jobs.lower_bounds_ == by_threads.lower_bounds_
    assert np.array_equal(by_jobs.covariances_, by_threads.covariances_)
    assert np.array_equal(by_jobs.predict_proba(X), by_threads.predict_proba(X))
    with pytest.raises(ValueError, match="n_threads=1 and n_jobs=2"):
        ff.GaussianMixture(3, n_threads=1, n_jobs=2).fit(X)
    by_jobs.set_params(n_threads=1)     # a conflict set after the fit is refused too
    with pytest.raises(ValueError, match="n_threads=1 and n_jobs=2"):
        by_jobs.predict(X)


def test_concurrent_fits_match_sequential_ones():
    from concurrent.futures import ThreadPoolExecutor

    X = blobs(300, 4, 3)
    params = [dict(covariance_type=c, random_state=0, init_params="k-means++")
              for c in COVARIANCE_TYPES]
    alone = [ff.GaussianMixture(3, **p).fit(X).lower_bounds_ for p in params]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda p: ff.GaussianMixture(3, **p).fit(X).lower_bounds_,
                                 params))
    assert together == alone


@needs_sklearn
def test_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(ff.GaussianMixture(n_init=2, max_iter=5), on_fail=None)
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed
    assert len(results) > 30


# ----------------------------------------------------------------- numerics

def test_empty_component_does_not_produce_nan():
    X = blobs(100, 3, 2, seed=0)
    means = np.vstack([X[:2], [[1e3, 1e3, 1e3]]])  # the third is far from every point
    gm = ff.GaussianMixture(3, means_init=means, max_iter=5, tol=0, random_state=0).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(gm, name))), name
    assert gm.weights_[2] < 1e-10
    assert np.all(np.isfinite(gm.lower_bounds_))
    np.testing.assert_allclose(gm.covariances_[2], 1e-6 * np.eye(3), rtol=1e-6)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_collapsed_component_asks_for_reg_covar(covariance_type):
    X = np.vstack([np.zeros((20, 2)), np.ones((20, 2)) * 3])  # two points, repeated
    X[:, 1] = X[:, 0]
    with pytest.raises(ValueError, match="reg_covar"):
        ff.GaussianMixture(2, covariance_type=covariance_type, reg_covar=0.0,
                           random_state=0).fit(X)
    gm = ff.GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    assert np.all(np.isfinite(gm.covariances_))


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "tied", "full"])
def test_variances_survive_a_large_offset_in_float32(covariance_type):
    # tight blobs far from the origin: E[x**2] - mu**2 would cancel completely
    rng = np.random.default_rng(0)
    X = (1e4 + np.concatenate([rng.normal(0, 0.01, (300, 2)),
                               rng.normal(1, 0.01, (300, 2))])).astype(np.float32)
    gm = ff.GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    var = gm.covariances_ if covariance_type != "full" else np.diagonal(
        gm.covariances_, axis1=1, axis2=2)
    assert np.all(var > 0)
    np.testing.assert_allclose(np.sort(np.ravel(var))[-1], 1e-4, rtol=0.5)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "tied"])
def test_float32_clusters_far_apart(covariance_type):
    # clusters 4000 standard deviations from the data mean: second moments
    # summed around it cancel by ~1e7 in the M-step, and the float32 GEMM
    # expansion of the log-probabilities by as much (its best components
    # are recomputed by subtracting first)
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(-40, 0.01, (400, 2)),
                        rng.normal(40, 0.01, (400, 2))]).astype(np.float32)
    gm = ff.GaussianMixture(2, covariance_type=covariance_type, reg_covar=0.0,
                            random_state=0).fit(X)
    ref = ff.GaussianMixture(2, covariance_type=covariance_type, reg_covar=0.0,
                             random_state=0).fit(X.astype(np.float64))
    np.testing.assert_allclose(np.sort(gm.covariances_.ravel()),
                               np.sort(ref.covariances_.ravel()), rtol=1e-3)
    np.testing.assert_allclose(gm.lower_bound_, ref.lower_bound_, rtol=1e-5)
    # (float32 data and means are rounded to ~4e-6, 4e-4 standard deviations)
    np.testing.assert_allclose(gm.score_samples(X), ref.score_samples(X), atol=1e-2)


def test_log_likelihood_is_stable_for_far_points():
    X = blobs(50, 2, 2)
    gm = ff.GaussianMixture(2, random_state=0).fit(X)
    far = np.array([[1e6, -1e6]])
    s = gm.score_samples(far)
    assert np.isfinite(s).all() and s[0] < -1e9
    np.testing.assert_allclose(gm.predict_proba(far).sum(), 1.0)


# ---------------------------------------------------------------- memory

def _peak_bytes(func):
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("init_params", ["random", "kmeans"])
def test_fit_allocates_nothing_n_by_k(init_params):
    # (k-means++ holds n x (2 + log k) trial distances, k-means n labels)
    n, d, k = 40000, 2, 64
    X = np.random.default_rng(0).normal(size=(n, d))
    nk_bytes = n * k * 8
    gm = ff.GaussianMixture(k, covariance_type="diag", init_params=init_params,
                            max_iter=2, random_state=0)
    peak = _peak_bytes(lambda: gm.fit(X))
    assert peak < nk_bytes / 4, f"peak {peak / 1e6:.1f} MB vs n x K = {nk_bytes / 1e6:.1f} MB"


def test_predict_proba_holds_one_tile_beyond_its_output():
    n, d, k = 40000, 2, 32
    X = np.random.default_rng(0).normal(size=(n, d))
    gm = ff.GaussianMixture(k, covariance_type="spherical", max_iter=1,
                            init_params="random_from_data", random_state=0).fit(X)
    out_bytes = n * k * 8
    peak = _peak_bytes(lambda: gm.predict_proba(X))
    assert peak < out_bytes * 1.25
    assert _peak_bytes(lambda: gm.score_samples(X)) < out_bytes / 4
    assert _peak_bytes(lambda: gm.predict(X)) < out_bytes / 4


# ----------------------------------------------------------------- bad input

@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data(bad):
    X = blobs(20, 2, 2)
    X[3, 1] = bad
    with pytest.raises(ValueError, match="X contains"):
        ff.GaussianMixture(2).fit(X)
    gm = ff.GaussianMixture(2, random_state=0).fit(blobs(20, 2, 2))
    with pytest.raises(ValueError, match="X contains"):
        gm.predict(X)


def test_wrong_dimensions_and_too_few_samples():
    gm = ff.GaussianMixture(2)
    with pytest.raises(ValueError, match="Expected 2D array"):
        gm.fit(np.ones(10))
    with pytest.raises(ValueError, match="Expected 2D array"):
        gm.fit(np.ones((4, 3, 2)))
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        ff.GaussianMixture(5).fit(np.random.rand(4, 2))
    with pytest.raises(ValueError, match="minimum of 2"):
        ff.GaussianMixture(1).fit(np.ones((1, 2)))
    with pytest.raises(ValueError, match="feature"):
        ff.GaussianMixture(1).fit(np.ones((5, 0)))


@pytest.mark.parametrize("params,match", [
    (dict(n_components=0), "n_components must be >= 1"),
    (dict(n_components=1.5), "n_components must be an int"),
    (dict(covariance_type="diagonal"), "covariance_type must be one of"),
    (dict(init_params="kmeans++"), "init_params must be one of"),
    (dict(tol=-1.0), "tol must be >= 0"),
    (dict(reg_covar=-1e-3), "reg_covar must be >= 0"),
    (dict(max_iter=-1), "max_iter must be >= 0"),
    (dict(n_init=0), "n_init must be >= 1"),
    (dict(verbose_interval=0), "verbose_interval must be >= 1"),
])
def test_bad_parameters(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ff.GaussianMixture(**params).fit(blobs(10, 2, 2))


def test_bad_initial_parameters():
    # scikit-learn's wording starts each message (anchored), our detail follows
    X = blobs(20, 3, 2)
    cases = [
        (dict(weights_init=[0.5, 0.3, 0.2]),
         r"^The parameter 'weights' should have the shape of \(2,\), but got \(3,\): "
         r"weights_init must have shape \(n_components,\)"),
        (dict(weights_init=[0.7, 0.7]),
         r"^The parameter 'weights' should be normalized, but got sum\(weights\) = 1.40000 "
         r"\(weights_init must sum to 1"),
        # (scikit-learn prints the minimum as "max value"; kept as it is)
        (dict(weights_init=[1.5, -0.5]),
         r"^The parameter 'weights' should be in the range \[0, 1\], but got max value "
         r"-0.50000, min value 1.50000 \(weights_init holds values from -0.5 to 1.5"),
        (dict(means_init=np.zeros((2, 2))),
         r"^The parameter 'means' should have the shape of \(2, 3\), but got \(2, 2\): "
         r"means_init must have shape \(n_components, n_features\)"),
        (dict(means_init=np.full((2, 3), np.nan)), "means_init contains NaN"),
        (dict(precisions_init=np.ones((2, 3))),
         r"^The parameter 'full precision' should have the shape of \(2, 3, 3\), but got "
         r"\(2, 3\): precisions_init must have shape"),
        (dict(precisions_init=np.stack([np.eye(3), -np.eye(3)])),
         r"^'full precision' should be symmetric, positive-definite: precisions_init\[1\] "
         r"has smallest eigenvalue -1"),
        (dict(precisions_init=np.stack([np.eye(3), np.triu(np.ones((3, 3)))])),
         r"^'full precision' should be symmetric, positive-definite: precisions_init\[1\] "
         r"is not symmetric"),
        (dict(covariance_type="tied", precisions_init=-np.eye(3)),
         r"^'tied precision' should be symmetric, positive-definite: precisions_init has "
         r"smallest eigenvalue -1"),
        (dict(covariance_type="diag", precisions_init=np.zeros((2, 3))),
         r"^'diag precision' should be positive: every entry of precisions_init must be > 0"),
        (dict(covariance_type="spherical", precisions_init=np.ones(3)),
         r"^The parameter 'spherical precision' should have the shape of \(2,\), but got "
         r"\(3,\)"),
    ]
    for params, match in cases:
        with pytest.raises(ValueError, match=match):
            ff.GaussianMixture(2, **params).fit(X)


def test_predict_with_wrong_features_and_before_fit():
    X = blobs(20, 3, 2)
    gm = ff.GaussianMixture(2)
    for method in ("predict", "predict_proba", "score_samples", "score", "sample"):
        with pytest.raises(ff.NotFittedError, match="not fitted yet"):
            getattr(gm, method)(X) if method != "sample" else gm.sample()
    gm.fit(X)
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is "
                                             "expecting 3 features"):
            getattr(gm, method)(X[:, :2])


# ----------------------------------------------------------------- k-means

@needs_sklearn
def test_kmeans_init_matches_sklearn_kmeans():
    from sklearn.cluster import KMeans, kmeans_plusplus

    X = blobs(300, 4, 5, seed=9, spread=3)
    km = KMeans(5, n_init=1, random_state=0).fit(X)
    centers, idx = kernels.kmeans_plusplus(X, 5, random_state=np.random.RandomState(0))
    labels, inertia, final, n_iter = kernels.kmeans_lloyd(X, centers)
    assert np.array_equal(labels, km.labels_)
    assert n_iter == km.n_iter_
    np.testing.assert_allclose(inertia, km.inertia_, rtol=1e-10)
    np.testing.assert_allclose(final, km.cluster_centers_, rtol=1e-10)
    _, sk_idx = kmeans_plusplus(X, 5, random_state=0)
    ours_idx = kernels.kmeans_plusplus(X, 5, random_state=0)[1]
    assert np.array_equal(ours_idx, sk_idx)


def test_kmeans_lloyd_relocates_empty_clusters():
    X = blobs(50, 2, 3, seed=0)
    init = np.vstack([X[0], X[0], X[60]])  # two equal centers: one gets no point
    labels, _, centers, _ = kernels.kmeans_lloyd(X, init)
    ref_labels, _, ref_centers, _ = reference.kmeans_lloyd(X, init)
    assert np.array_equal(labels, ref_labels)
    np.testing.assert_allclose(centers, ref_centers, rtol=1e-12)
    assert len(np.unique(labels)) == 3
