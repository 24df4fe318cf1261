"""GaussianMixture's scikit-learn steps: signatures, meanings, subclasses that override them.

Also: nothing is estimated from X when every initial parameter is given, and
one-point components with ``reg_covar=0`` fit as in scikit-learn.
"""
import copy
import warnings

import numpy as np
import pytest

import fastfactor as ff
from fastfactor.mixture import _gaussian_mixture as gm_module
from fastfactor.mixture import _m_step
from fastfactor.mixture._gaussian_mixture import _ESTIMATE_STEPS, _FIT_STEPS, _overrides
from fastfactor.mixture._init import initial_resp

from test_mixture import COVARIANCE_TYPES, INIT_PARAMS, blobs, initial_params, needs_sklearn

try:
    from sklearn.mixture import GaussianMixture as SkGMM
except ImportError:  # pragma: no cover
    SkGMM = None


@pytest.fixture(autouse=True)
def _no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ff.ConvergenceWarning)
        yield


def _resp(n, k, seed=0):
    rng = np.random.RandomState(seed)
    resp = rng.random_sample((n, k))
    return resp / resp.sum(axis=1)[:, None]


def _assert_params_close(ours, theirs, rtol=1e-9, atol=1e-12,
                         names=("weights_", "means_", "covariances_", "precisions_cholesky_")):
    for name in names:
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=rtol,
                                   atol=atol, err_msg=name)


# ------------------------------------------------- the steps mean scikit-learn's

def test_the_class_itself_runs_the_fused_path():
    assert not _overrides(ff.GaussianMixture, _FIT_STEPS)
    assert not _overrides(ff.GaussianMixture, _ESTIMATE_STEPS)
    assert not ff.GaussianMixture._stepwise_fit and not ff.GaussianMixture._stepwise_estimates

    class Quiet(ff.GaussianMixture):  # overriding no step keeps the fused path
        def fit(self, X, y=None):
            return super().fit(X, y)

    assert not Quiet._stepwise_fit and not Quiet._stepwise_estimates
    # an M-step override is fitted step by step but estimates with the kernels;
    # an _estimate_* override (and its subclasses) does both step by step
    assert CountingMStep._stepwise_fit and not CountingMStep._stepwise_estimates

    class Deeper(Tempered):
        pass

    assert Deeper._stepwise_fit and Deeper._stepwise_estimates


@needs_sklearn
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("given", ["none", "precisions", "all"])
def test_initialize_from_resp_matches_sklearn(covariance_type, given):
    X = blobs(40, 3, 3, seed=2)
    resp = _resp(len(X), 3)
    init = initial_params(X, 3, covariance_type)
    params = dict(n_components=3, covariance_type=covariance_type)
    if given == "precisions":
        params["precisions_init"] = init["precisions_init"]
    elif given == "all":
        params.update(init)
    ours, sk = ff.GaussianMixture(**params), SkGMM(**copy.deepcopy(params))
    ours._initialize(X, resp)
    sk._initialize(X, resp)
    names = ["weights_", "means_", "precisions_cholesky_"]
    if given == "none":  # scikit-learn sets no covariances_ from given precisions
        names.append("covariances_")
    _assert_params_close(ours, sk, names=names)
    if given != "none":
        np.testing.assert_allclose(ours.covariances_, _m_step._covariances_from_cholesky(
            sk.precisions_cholesky_, covariance_type), rtol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_initialize_keeps_given_precisions_whatever_n_components(covariance_type):
    # scikit-learn's non-regression test for #26415 calls _initialize on an
    # estimator whose n_components (1) is not resp's: the steps check nothing
    rng = np.random.RandomState(0)
    X, resp = rng.random_sample((100, 3)), _resp(100, 4)
    nk, means, covs = _m_step.estimate_gaussian_parameters(X, resp, 1e-6, covariance_type)
    chol = _m_step._precisions_cholesky(covs, covariance_type, X.dtype)
    precisions = _m_step._precisions_from_cholesky(chol, covariance_type)
    gm = ff.GaussianMixture(covariance_type=covariance_type, precisions_init=precisions)
    gm._initialize(X, resp)
    np.testing.assert_allclose(gm.precisions_cholesky_, chol, rtol=1e-7)
    np.testing.assert_allclose(gm.means_, means)
    np.testing.assert_allclose(gm.weights_, nk / 100)


@needs_sklearn
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_e_step_m_step_and_estimates_match_sklearn(covariance_type):
    X = blobs(50, 3, 3, seed=4)
    params = dict(n_components=3, covariance_type=covariance_type, max_iter=3,
                  random_state=0)
    ours, sk = ff.GaussianMixture(**params).fit(X), SkGMM(**params).fit(X)
    sk._set_parameters(ours._get_parameters())  # the same model in both
    for step in ("_estimate_log_prob", "_estimate_weighted_log_prob"):
        np.testing.assert_allclose(getattr(ours, step)(X), getattr(sk, step)(X), rtol=1e-10,
                                   err_msg=step)
    np.testing.assert_allclose(ours._estimate_log_weights(), sk._estimate_log_weights())
    for a, b in zip(ours._estimate_log_prob_resp(X), sk._estimate_log_prob_resp(X)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    lpn, log_resp = ours._e_step(X)
    sk_lpn, sk_log_resp = sk._e_step(X)
    np.testing.assert_allclose(lpn, sk_lpn, rtol=1e-12)
    np.testing.assert_allclose(log_resp, sk_log_resp, rtol=1e-10, atol=1e-10)
    assert ours._compute_lower_bound(log_resp, lpn) == lpn
    ours._m_step(X, log_resp)
    sk._m_step(X, log_resp)
    _assert_params_close(ours, sk, rtol=1e-8, atol=1e-12)
    # the same M-step as the fused pass, from the same parameters
    fused = ff.GaussianMixture(**params).fit(X)
    data = gm_module.GMMData(X, covariance_type, 1)
    _, after = fused._em_step(data, fused._cast_params(X.dtype, *fused._get_parameters()))
    fused._m_step(X, fused._e_step(X)[1])
    for a, b in zip(after, fused._get_parameters()):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@needs_sklearn
@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_initialize_parameters_matches_sklearn(init_params):
    X = blobs(60, 3, 3, seed=6)
    params = dict(n_components=3, init_params=init_params, covariance_type="diag")
    ours, sk = ff.GaussianMixture(**params), SkGMM(**params)
    ours._initialize_parameters(X, np.random.RandomState(3))
    sk._initialize_parameters(X, np.random.RandomState(3))
    # (a one-point component's variance is reg_covar plus rounding noise)
    _assert_params_close(ours, sk, rtol=1e-7, atol=1e-9)


def test_initial_resp_sums_to_what_the_fused_start_uses():
    X = blobs(50, 3, 3, seed=1)
    for init_params in INIT_PARAMS:
        for cov in COVARIANCE_TYPES:
            gm = ff.GaussianMixture(3, covariance_type=cov, init_params=init_params)
            gm._initialize_parameters(X, np.random.RandomState(5))
            data = gm_module.GMMData(X, cov, 1)
            fused = gm._initialize_fused(data, np.random.RandomState(5), (None, None, None))
            for a, b in zip(fused, gm._get_parameters()):
                np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9,
                                           err_msg=f"{init_params} {cov}")
    resp = initial_resp(X, "random_from_data", 3, np.random.RandomState(0))
    assert resp.shape == (150, 3) and resp.sum() == 3 and resp.dtype == X.dtype


def test_check_parameters_checks_and_returns_the_given_arrays():
    X = blobs(20, 3, 2)
    gm = ff.GaussianMixture(2, weights_init=[0.25, 0.75], means_init=X[:2].tolist())
    w, m, p = gm._check_parameters(X.astype(np.float32))
    assert w.dtype == m.dtype == np.float32 and p is None
    assert gm.weights_init == [0.25, 0.75]  # the parameters are left as given
    with pytest.raises(ValueError, match=r"^The parameter 'weights' should be normalized"):
        ff.GaussianMixture(2, weights_init=[0.5, 0.6])._check_parameters(X)


# ---------------------------------------------------- subclasses that override steps

class CountingMStep(ff.GaussianMixture):
    """An M-step override that calls scikit-learn's (ours) and counts."""

    def _m_step(self, X, log_resp):
        self.m_steps_ = getattr(self, "m_steps_", 0) + 1
        super()._m_step(X, log_resp)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_subclass_calling_super_fits_as_the_fused_path(covariance_type):
    X = blobs(60, 3, 3, seed=8)
    params = dict(n_components=3, covariance_type=covariance_type, random_state=0, tol=0,
                  max_iter=8, n_init=2)
    fused = ff.GaussianMixture(**params).fit(X)
    sub = CountingMStep(**params)
    labels = sub.fit_predict(X)
    assert sub.m_steps_ == 16  # every iteration of both starts went through the override
    np.testing.assert_allclose(sub.lower_bounds_, fused.lower_bounds_, rtol=1e-10)
    _assert_params_close(sub, fused, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(sub.precisions_, fused.precisions_, rtol=1e-8, atol=1e-12)
    assert np.array_equal(labels, fused.predict(X))


class FixedMeans(ff.GaussianMixture):
    """Keeps the means it started from (a common override in the wild)."""

    def _m_step(self, X, log_resp):
        means = self.means_
        super()._m_step(X, log_resp)
        self.means_ = means


@needs_sklearn
def test_overridden_m_step_changes_the_fit_as_in_sklearn():
    class SkFixedMeans(SkGMM):
        def _m_step(self, X, log_resp, xp=None):
            means = self.means_
            super()._m_step(X, log_resp, xp=xp)
            self.means_ = means

    X = blobs(60, 3, 3, seed=3)
    init = initial_params(X, 3, "diag")
    params = dict(n_components=3, covariance_type="diag", max_iter=10, tol=0, **init)
    ours = FixedMeans(**params).fit(X)
    sk = SkFixedMeans(**copy.deepcopy(params)).fit(X)
    np.testing.assert_array_equal(ours.means_, init["means_init"])
    np.testing.assert_allclose(ours.lower_bounds_, sk.lower_bounds_, rtol=1e-10)
    _assert_params_close(ours, sk, rtol=1e-8)


class Tempered(ff.GaussianMixture):
    """An ``_estimate_log_prob`` override: used by fit, and by every per-row estimate."""

    def _estimate_log_prob(self, X):
        return 0.5 * super()._estimate_log_prob(X)


@needs_sklearn
def test_overridden_estimate_is_used_by_fit_and_predictions_as_in_sklearn():
    class SkTempered(SkGMM):
        def _estimate_log_prob(self, X, xp=None):
            return 0.5 * super()._estimate_log_prob(X, xp=xp)

    X = blobs(50, 2, 3, seed=5)
    params = dict(n_components=3, random_state=0, max_iter=6, tol=0, init_params="random")
    ours, sk = Tempered(**params), SkTempered(**params)
    np.testing.assert_array_equal(ours.fit_predict(X), sk.fit_predict(X))
    np.testing.assert_allclose(ours.lower_bounds_, sk.lower_bounds_, rtol=1e-9)
    np.testing.assert_allclose(ours.score_samples(X), sk.score_samples(X), rtol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-10)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    assert ours.score(X) == pytest.approx(sk.score(X), rel=1e-10)
    plain = ff.GaussianMixture(**params).fit(X)
    assert not np.allclose(plain.score_samples(X), ours.score_samples(X))


def test_overridden_initialize_receives_the_responsibilities():
    seen = {}

    class Spy(ff.GaussianMixture):
        def _initialize(self, X, resp):
            seen["resp"] = resp
            super()._initialize(X, resp)

    X = blobs(30, 2, 2)
    Spy(2, init_params="random_from_data", random_state=0, max_iter=2).fit(X)
    resp = seen["resp"]
    assert resp.shape == (60, 2) and resp.sum() == 2 and set(np.unique(resp)) == {0, 1}
    # every initial parameter given: scikit-learn's _initialize(X, None)
    init = initial_params(X, 2, "full")
    Spy(2, max_iter=2, **init).fit(X)
    assert seen["resp"] is None


def test_subclass_with_dask_x_is_refused():
    da = pytest.importorskip("dask.array")
    X = blobs(30, 2, 2)
    with pytest.raises(TypeError, match="overrides scikit-learn's EM steps.*X.compute"):
        CountingMStep(2, init_params="random_from_data").fit(da.from_array(X, chunks=20))


# ---------------------------------------- nothing estimated when every init is given

@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_all_init_given_estimates_nothing_from_data(monkeypatch, covariance_type):
    # scikit-learn's test (gh-26015) counts its _estimate_gaussian_parameters;
    # these are fastfactor's: the M-step runs once per iteration, nothing more
    X = blobs(60, 3, 2, seed=0)
    calls = {"m": 0, "init": 0, "resp": 0}

    def counted(name, func):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return func(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(gm_module, "_estimate_parameters",
                        counted("m", gm_module._estimate_parameters))
    monkeypatch.setattr(gm_module, "initial_stats", counted("init", gm_module.initial_stats))
    monkeypatch.setattr(gm_module, "estimate_gaussian_parameters",
                        counted("resp", gm_module.estimate_gaussian_parameters))
    params = dict(n_components=2, covariance_type=covariance_type, random_state=0,
                  **initial_params(X, 2, covariance_type))
    gm = ff.GaussianMixture(**params).fit(X)
    assert calls == {"m": gm.n_iter_, "init": 0, "resp": 0} and gm.n_iter_ > 1
    # step by step (a subclass): one resp-based M-step per iteration, as scikit-learn
    calls.update(m=0, resp=0)
    sub = CountingMStep(**params).fit(X)
    assert calls == {"m": 0, "init": 0, "resp": sub.n_iter_}
    # with one initial parameter missing, the start is estimated (once)
    calls.update(m=0, resp=0)
    ff.GaussianMixture(**dict(params, weights_init=None)).fit(X)
    assert calls["init"] == 1


# --------------------------------------------- one-point components, reg_covar=0

@needs_sklearn
@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_one_point_components_without_reg_covar_fit_as_sklearn(covariance_type):
    # scikit-learn's test_gaussian_mixture_setting_best_params: two components
    # start on one point each with precision 1e6 and reg_covar=0; scikit-learn's
    # formula keeps their variance positive (10 * eps * mu**2 / nk), so does ours
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(30, 3))
    means = np.vstack([X[3], X[11], rng.uniform(size=(2, 3))])
    prec = np.array([1e6, 1e6, 500.0, 20.0])
    if covariance_type == "diag":
        prec = np.repeat(prec[:, None], 3, axis=1)
    params = dict(n_components=4, covariance_type=covariance_type, reg_covar=0,
                  weights_init=[1 / 30, 1 / 30, 0.4, 1 - 2 / 30 - 0.4], means_init=means,
                  precisions_init=prec, max_iter=1, random_state=0)
    ours, sk = ff.GaussianMixture(**params).fit(X), SkGMM(**params).fit(X)
    assert not ours.converged_ and ours.n_iter_ == 1
    assert np.all(ours.covariances_ > 0) and np.all(np.isfinite(ours.precisions_cholesky_))
    assert ours.lower_bound_ == pytest.approx(sk.lower_bound_, rel=1e-9)
    np.testing.assert_allclose(ours.means_, sk.means_, rtol=1e-9)
    # the one-point variances are rounding-sized in both (scikit-learn's own
    # cancellation noise is of the same size as the term)
    one_point = ours.covariances_[:2]
    assert np.all(one_point < 1e-14)
    np.testing.assert_allclose(one_point, sk.covariances_[:2], rtol=0.5)


def test_the_eps_term_is_scikit_learns_and_float64_sized():
    # one exact point per component: the variance is the term (plus the
    # rounding of the zero scatter, a few 1e-16)
    X = np.array([[2.0, 4.0], [2.0, 4.0], [-1.0, 3.0], [-1.0, 3.0]])
    resp = np.array([[1.0, 0], [1, 0], [0, 1], [0, 1]])
    nk, means, diag = _m_step.estimate_gaussian_parameters(X, resp, 0.0, "diag")
    eps = 10 * np.finfo(np.float64).eps
    np.testing.assert_allclose(diag, eps * means ** 2 / nk[:, None], atol=1e-15)
    _, _, sph = _m_step.estimate_gaussian_parameters(X, resp, 0.0, "spherical")
    np.testing.assert_allclose(sph, diag.mean(axis=1), atol=1e-15)
    # float32 data gets the float64-sized term, not 1e-6 * mu**2
    nk32, means32, diag32 = _m_step.estimate_gaussian_parameters(X.astype(np.float32), resp,
                                                                 0.0, "diag")
    float32_term = 10 * np.finfo(np.float32).eps * means32 ** 2 / nk32[:, None]
    assert np.all(diag32 > 0) and np.all(diag32 < 1e-4 * float32_term)
