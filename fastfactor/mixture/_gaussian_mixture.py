"""Gaussian mixture models fitted by EM, with a fused, tiled E-step.

:class:`GaussianMixture` mirrors scikit-learn's (same parameters, defaults,
methods, fitted attributes and EM conventions), so the same data and initial
parameters give the same log-likelihoods, iteration for iteration.

One EM iteration is one pass over X (:func:`fastfactor.kernels.gmm_em_step`):
for the current parameters it computes each row's responsibilities and
log-likelihood, tile by tile, and sums the M-step's sufficient statistics on
the way. The lower bound of iteration t (the mean log-likelihood under the
parameters before its M-step, as scikit-learn reports it) and the parameters
of iteration t + 1 both come out of that pass. No n_samples x n_components
array is ever formed during ``fit``.

The M-step is in :mod:`._m_step`, the initial responsibilities in
:mod:`._init`, the data a fit passes over in :mod:`._data` (or
:mod:`._dask`), the checks of user-given parameters in :mod:`._validation`.

scikit-learn's overridable steps (``_initialize(X, resp)``, ``_e_step``,
``_m_step``, ``_estimate_log_prob`` ...) exist here with scikit-learn's
signatures and meanings. A subclass that overrides one of them is fitted
(and scored) step by step as scikit-learn does, calling its steps with n x K
arrays; the class itself always runs the fused pass.
"""
import math
import time
import warnings

import numpy as np
from scipy.special import logsumexp

from .. import kernels
from .._utils.dask import is_dask_array
from ..checkpoint import encode_rng_state, restore_rng
from .._base import BaseEstimator, check_is_fitted
from .._utils.threads import effective_n_threads, resolve_n_threads, single_threaded_blas
from .._utils.validation import (
    FLOAT_DTYPES,
    check_float,
    check_int,
    check_option,
    check_random_state,
    validate_data,
)
from ..exceptions import ConvergenceWarning
from ..reference import _gmm_weighted_log_prob
from ._data import GMMData
from ._init import initial_resp, initial_stats
from ._m_step import (
    _covariances_from_cholesky,
    _estimate_parameters,
    _precisions_cholesky,
    _precisions_cholesky_from_precisions,
    _precisions_from_cholesky,
    estimate_gaussian_parameters,
)
from ._validation import check_gmm_means, check_gmm_precisions, check_gmm_weights

__all__ = ["GaussianMixture"]

COVARIANCE_TYPES = kernels.COVARIANCE_TYPES
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")

_PARAM_NAMES = ("weights", "means", "covariances", "precisions_cholesky")

# scikit-learn's overridable steps of the per-row estimates, and of fit
_ESTIMATE_STEPS = ("_estimate_log_prob_resp", "_estimate_weighted_log_prob",
                   "_estimate_log_prob", "_estimate_log_weights")
_FIT_STEPS = ("_check_parameters", "_initialize_parameters", "_initialize", "_e_step",
              "_m_step", "_compute_lower_bound", "_get_parameters") + _ESTIMATE_STEPS


def _overrides(cls, steps):
    """Whether ``cls`` (GaussianMixture or a subclass) has its own version of one of ``steps``."""
    return any(getattr(cls, name) is not getattr(GaussianMixture, name) for name in steps)


def _state_params(state, prefix):
    return tuple(np.asarray(state[prefix + name]) for name in _PARAM_NAMES)


def _em_state(init, n_iter, params, lower_bound, lower_bounds, best, random_state):
    """The complete EM state after an iteration, as arrays and JSON-friendly values."""
    state = dict(init=init, n_iter=n_iter, lower_bound=float(lower_bound),
                 lower_bounds=[float(v) for v in lower_bounds],
                 rng_state=encode_rng_state(random_state),
                 has_best=best["params"] is not None,
                 best_lower_bound=float(best["lower_bound"]), best_n_iter=int(best["n_iter"]),
                 best_lower_bounds=[float(v) for v in best["lower_bounds"]],
                 best_converged=bool(best["converged"]),
                 losses=[-float(v) for v in lower_bounds])
    for name, value in zip(_PARAM_NAMES, params):
        state[name] = value
    if best["params"] is not None:
        for name, value in zip(_PARAM_NAMES, best["params"]):
            state["best_" + name] = value
    return state


class GaussianMixture(BaseEstimator):
    """Gaussian mixture fitted by EM, a drop-in for scikit-learn's ``GaussianMixture``.

    Each EM iteration is one fused, tiled and parallel pass over X (E-step
    and M-step statistics together); nothing of size n_samples x
    n_components is allocated during ``fit``, and ``predict``,
    ``predict_proba`` and ``score_samples`` also work tile by tile.
    float32 data is computed in float32 with float64 accumulation.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        'full': each component has its own covariance matrix; 'tied': one
        shared matrix; 'diag': a diagonal matrix per component; 'spherical':
        one variance per component.
    tol : float, default=1e-3
        EM stops when the lower bound (mean log-likelihood) changes by less.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance, keeping it positive.
    max_iter : int, default=100
        EM iterations per initialization.
    n_init : int, default=1
        Initializations tried; the best lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the initial responsibilities are chosen: k-means labels (this
        package's own k-means++ and Lloyd), k-means++ seeds, random
        responsibilities, or random data points.
    weights_init : array-like of shape (n_components,), optional
    means_init : array-like of shape (n_components, n_features), optional
    precisions_init : array-like, optional
        Initial precisions, shaped as ``precisions_``. Initial parameters
        given here replace those ``init_params`` would give.
    random_state : int, RandomState, Generator or None
        Seeds the initialization and :meth:`sample`.
    warm_start : bool, default=False
        Continue from the previous fit (one initialization, ``n_init`` ignored).
    verbose : int, default=0
        1 prints each initialization and iteration; 2 also times and changes.
    verbose_interval : int, default=10
        Iterations between prints.
    n_threads, n_jobs : int or None, default=None
        Threads for the compiled kernels, under either name (fastfactor's,
        scikit-learn's; different values raise ValueError); None follows
        OpenMP's setting (``threadpoolctl.threadpool_limits`` applies).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        (n_components,) 'spherical', (n_features, n_features) 'tied',
        (n_components, n_features) 'diag', (n_components, n_features,
        n_features) 'full'.
    precisions_ : ndarray
        Inverses of the covariances, same shapes.
    precisions_cholesky_ : ndarray
        Upper-triangular U with ``precisions_ = U @ U.T`` (square roots for
        'diag'/'spherical').
    converged_ : bool
    n_iter_ : int
        EM iterations of the best initialization.
    lower_bound_ : float
        Mean log-likelihood of the training data at the best initialization's
        last iteration.
    lower_bounds_ : list of float
        The lower bound at each iteration of the best initialization.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X is a DataFrame with string column names.

    Notes
    -----
    scikit-learn's private steps are here with its signatures and meanings:
    ``_check_parameters(X)``, ``_initialize_parameters(X, random_state)``,
    ``_initialize(X, resp)``, ``_e_step(X)``, ``_m_step(X, log_resp)``,
    ``_estimate_log_prob(X)``, ``_estimate_log_weights()``,
    ``_estimate_weighted_log_prob(X)``, ``_estimate_log_prob_resp(X)``,
    ``_compute_lower_bound(log_resp, log_prob_norm)``, ``_get_parameters()``
    and ``_set_parameters(params)``. A subclass overriding any of them is
    fitted step by step as scikit-learn's is (n x K arrays, its steps
    called), and one overriding an ``_estimate_*`` step also predicts and
    scores through it.
    """

    # whether the class overrides one of scikit-learn's steps of fit, of the
    # per-row estimates: decided once per class (see __init_subclass__)
    _stepwise_fit = False
    _stepwise_estimates = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._stepwise_fit = _overrides(cls, _FIT_STEPS)
        cls._stepwise_estimates = _overrides(cls, _ESTIMATE_STEPS)

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6,
                 max_iter=100, n_init=1, init_params="kmeans", weights_init=None,
                 means_init=None, precisions_init=None, random_state=None, warm_start=False,
                 verbose=0, verbose_interval=10, n_threads=None, n_jobs=None):
        self._store_init_arguments(locals())

    # -- parameters -------------------------------------------------------
    def _check_params(self):
        check_int(self.n_components, "n_components", min_value=1)
        check_option(self.covariance_type, "covariance_type", COVARIANCE_TYPES)
        check_float(self.tol, "tol", min_value=0.0)
        check_float(self.reg_covar, "reg_covar", min_value=0.0)
        check_int(self.max_iter, "max_iter", min_value=0)
        check_int(self.n_init, "n_init", min_value=1)
        check_option(self.init_params, "init_params", INIT_PARAMS)
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise TypeError(f"warm_start must be a bool, got {self.warm_start!r}.")
        check_int(int(self.verbose) if isinstance(self.verbose, (bool, np.bool_))
                  else self.verbose, "verbose", min_value=0)
        check_int(self.verbose_interval, "verbose_interval", min_value=1)
        return effective_n_threads(self._thread_setting())

    def _thread_setting(self):
        """The user's thread count, under either name (None: OpenMP's setting)."""
        return resolve_n_threads(self.n_threads, self.n_jobs)

    def _n_threads(self):
        return effective_n_threads(self._thread_setting())

    def _check_init_arrays(self, n_features, dtype):
        K = self.n_components
        w = m = p = None
        if self.weights_init is not None:
            w = check_gmm_weights(self.weights_init, K, dtype)
        if self.means_init is not None:
            m = check_gmm_means(self.means_init, K, n_features, dtype)
        if self.precisions_init is not None:
            p = check_gmm_precisions(self.precisions_init, self.covariance_type, K,
                                     n_features, dtype)
        return w, m, p

    def _check_parameters(self, X, xp=None):
        """scikit-learn's step: check ``weights_init``, ``means_init`` and ``precisions_init``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            The (validated) training data.
        xp : None
            Accepted for scikit-learn's signature; unused.

        Returns
        -------
        (weights, means, precisions)
            The checked arrays in X's dtype, None where not given (the
            parameters themselves are left as given).
        """
        return self._check_init_arrays(X.shape[1], X.dtype)

    # -- initialization ---------------------------------------------------
    def _initialize_fused(self, data, random_state, init_arrays):
        """The parameters of a start, from the statistics of the initial responsibilities."""
        n, d = data.n_samples, data.X.shape[1]
        K, cov = self.n_components, self.covariance_type
        weights = means = covariances = None
        if any(a is None for a in init_arrays):
            nk_raw, s1, s2 = initial_stats(data, self.init_params, K, cov, random_state)
            centers = np.broadcast_to(data.center, (K, d))
            nk, means, covariances = _estimate_parameters(
                data, cov, self.reg_covar, nk_raw, s1, s2, centers)
            weights = nk / n
        return self._complete_params(data.dtype, weights, means, covariances, init_arrays)

    def _complete_params(self, dtype, weights, means, covariances, init_arrays):
        """The parameters of a start: the given initial ones replace those estimated."""
        w_init, m_init, p_init = init_arrays
        cov = self.covariance_type
        weights = weights if w_init is None else w_init.astype(np.float64)
        means = means if m_init is None else m_init.astype(np.float64)
        if p_init is None:
            prec_chol = _precisions_cholesky(covariances, cov, dtype)
        else:
            prec_chol = _precisions_cholesky_from_precisions(p_init.astype(np.float64), cov)
            covariances = _covariances_from_cholesky(prec_chol, cov)
        return self._cast_params(dtype, weights, means, covariances, prec_chol)

    def _initialize_parameters(self, X, random_state, xp=None):
        """scikit-learn's step: form the initial responsibilities, then ``_initialize``.

        When ``weights_init``, ``means_init`` and ``precisions_init`` are all
        given, no responsibilities are formed (``_initialize(X, None)``) and
        nothing is estimated from X.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        random_state : numpy.random.RandomState
        xp : None
            Accepted for scikit-learn's signature; unused.
        """
        resp = None
        if any(a is None for a in (self.weights_init, self.means_init, self.precisions_init)):
            resp = initial_resp(X, self.init_params, self.n_components, random_state,
                                self._n_threads())
        self._initialize(X, resp)

    def _initialize(self, X, resp, xp=None):
        """scikit-learn's step: set the parameters from responsibilities and the ``*_init``.

        Sets ``weights_``, ``means_``, ``covariances_`` and
        ``precisions_cholesky_``: estimated from ``resp`` (the weights as
        ``nk / n_samples``), each replaced by ``weights_init``, ``means_init``
        or ``precisions_init`` when given (the covariances then follow from
        the given precisions). The ``*_init`` are used as they are, without
        the checks of ``fit``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        resp : ndarray of shape (n_samples, n_components) or None
            None only when all three ``*_init`` are given.
        xp : None
            Accepted for scikit-learn's signature; unused.
        """
        X = np.asarray(X)
        weights = means = covariances = None
        if resp is not None:
            nk, means, covariances = estimate_gaussian_parameters(
                X, resp, self.reg_covar, self.covariance_type, self._n_threads())
            weights = nk / X.shape[0]
        given = tuple(None if a is None else np.asarray(a, dtype=np.float64)
                      for a in (self.weights_init, self.means_init, self.precisions_init))
        (self.weights_, self.means_, self.covariances_,
         self.precisions_cholesky_) = self._complete_params(X.dtype, weights, means,
                                                            covariances, given)

    @staticmethod
    def _cast_params(dtype, *params):
        return tuple(np.asarray(p, dtype=dtype) for p in params)

    # -- EM ---------------------------------------------------------------
    def _em_step(self, data, params):
        """One pass: the lower bound of ``params`` and the parameters after the M-step."""
        weights, means, _, prec_chol = params
        cov = self.covariance_type
        total, nk_raw, s1, s2 = data.em_stats(weights, means, prec_chol, cov)
        lower_bound = total / data.n_samples
        if cov == "full":
            centers = means.astype(np.float64)
        else:
            centers = np.broadcast_to(data.center, means.shape)
        if cov == "tied":
            s2 = data.scatter
        nk, new_means, covariances = _estimate_parameters(
            data, cov, self.reg_covar, nk_raw, s1, s2, centers)
        return lower_bound, self._m_step_params(data.dtype, nk, new_means, covariances)

    def _m_step_params(self, dtype, nk, means, covariances):
        """The M-step's parameters (in ``dtype``) from its nk, means and covariances."""
        prec_chol = _precisions_cholesky(covariances, self.covariance_type, dtype)
        return self._cast_params(dtype, nk / nk.sum(), means, covariances, prec_chol)

    # scikit-learn's steps, each on n x K arrays (see _fit_em for when fit uses them)
    def _e_step(self, X, xp=None):
        """scikit-learn's step: the mean log-likelihood and the log-responsibilities.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        xp : None
            Accepted for scikit-learn's signature; unused.

        Returns
        -------
        log_prob_norm : float
            Mean of ``log p(x_i)``.
        log_resp : ndarray of shape (n_samples, n_components)
        """
        log_prob_norm, log_resp = self._estimate_log_prob_resp(X)
        return np.mean(log_prob_norm), log_resp

    def _m_step(self, X, log_resp, xp=None):
        """scikit-learn's step: set the parameters from the log-responsibilities.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        log_resp : ndarray of shape (n_samples, n_components)
        xp : None
            Accepted for scikit-learn's signature; unused.
        """
        X = np.asarray(X)
        nk, means, covariances = estimate_gaussian_parameters(
            X, np.exp(log_resp), self.reg_covar, self.covariance_type, self._n_threads())
        (self.weights_, self.means_, self.covariances_,
         self.precisions_cholesky_) = self._m_step_params(X.dtype, nk, means, covariances)

    def _estimate_log_prob(self, X, xp=None):
        """scikit-learn's step: ``log N(x_i | mu_k, Sigma_k)``, shape (n_samples, n_components).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        xp : None
            Accepted for scikit-learn's signature; unused.

        Returns
        -------
        ndarray of shape (n_samples, n_components), in X's dtype
        """
        X = np.asarray(X)
        # the plain-numpy twin of the kernels' log-densities; unit weights add log 1 = 0
        log_prob = _gmm_weighted_log_prob(X, np.ones(len(self.means_)), self.means_,
                                          self.precisions_cholesky_, self.covariance_type)
        return log_prob.astype(X.dtype, copy=False)

    def _estimate_log_weights(self, xp=None):
        """scikit-learn's step: ``log(weights_)``."""
        return np.log(self.weights_)

    def _estimate_weighted_log_prob(self, X, xp=None):
        """scikit-learn's step: ``_estimate_log_prob(X) + _estimate_log_weights()``."""
        return self._estimate_log_prob(X) + self._estimate_log_weights()

    def _estimate_log_prob_resp(self, X, xp=None):
        """scikit-learn's step: ``log p(x_i)`` and the log-responsibilities.

        Returns
        -------
        log_prob_norm : ndarray of shape (n_samples,)
        log_resp : ndarray of shape (n_samples, n_components)
        """
        weighted = self._estimate_weighted_log_prob(X)
        log_prob_norm = logsumexp(weighted, axis=1)
        with np.errstate(under="ignore"):
            log_resp = weighted - log_prob_norm[:, None]
        return log_prob_norm, log_resp

    def _compute_lower_bound(self, log_resp, log_prob_norm):
        """scikit-learn's step: the lower bound of EM is the mean log-likelihood."""
        return log_prob_norm

    def _get_parameters(self):
        """scikit-learn's step: (weights_, means_, covariances_, precisions_cholesky_)."""
        return (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def _set_parameters(self, params, xp=None):
        """scikit-learn's step: set the four parameters of ``params`` and ``precisions_``."""
        (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_) = params
        self.precisions_ = _precisions_from_cholesky(
            self.precisions_cholesky_, self.covariance_type).astype(self.means_.dtype)

    def _stepwise_em_step(self, X):
        """scikit-learn's iteration, through the (overridden) steps on the current parameters."""
        log_prob_norm, log_resp = self._e_step(X)
        self._m_step(X, log_resp)
        return self._compute_lower_bound(log_resp, log_prob_norm), self._get_parameters()

    def fit(self, X, y=None):
        """Estimate the parameters with the EM algorithm.

        Runs ``n_init`` initializations of up to ``max_iter`` iterations
        each (one with ``warm_start`` after the first fit) and keeps the one
        with the largest lower bound. Warns (``ConvergenceWarning``) when
        that one did not converge.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. A dask array is fitted where its blocks are
            (``init_params='random_from_data'``, or all three ``*_init``).
        y : Ignored

        Returns
        -------
        self : GaussianMixture
        """
        self._fit(X)
        return self

    def fit_predict(self, X, y=None):
        """Fit, then return the most probable component of each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (a dask array gives a lazy dask array of labels).
        y : Ignored

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        data, labels = self._fit(X)
        if labels is not None:
            return labels
        if is_dask_array(X):
            return self.predict(X)
        # a final E-step, so that fit_predict(X) agrees with fit(X).predict(X)
        return kernels.gmm_estimate(data.X, *self._model(), output="labels",
                                    center=data.center, n_threads=data.n_threads)[1]

    def _fit(self, X):
        # All the BLAS work of a fit is small (K x d x d) or runs inside the
        # kernels' parallel tiles: one BLAS thread avoids oversubscription,
        # and the wake-up cost of BLAS threads on tiny matrices.
        with single_threaded_blas():
            return self._fit_em(X)

    def _fit_em(self, X, callback=None, resume=None):
        """EM from ``n_init`` starts, keeping the best.

        ``callback(state)`` is called after every EM iteration that does not
        end a start, with the complete state (arrays and JSON values);
        ``resume`` takes such a state back and continues exactly from it.

        The class itself runs the fused pass (:meth:`_em_step`); a subclass
        that overrides one of scikit-learn's steps runs scikit-learn's
        iteration through them (:meth:`_stepwise_em_step`).

        Returns
        -------
        data : GMMData, DaskGMMData or None (step by step)
        labels : ndarray or None
            The labels of scikit-learn's final E-step (step by step only).
        """
        n_threads = self._check_params()
        stepwise = self._stepwise_fit
        if is_dask_array(X):
            if stepwise:
                raise TypeError(
                    f"{type(self).__name__} overrides scikit-learn's EM steps, which work on "
                    "in-memory arrays; pass X.compute() instead of a dask array.")
            from ._dask import DaskGMMData

            # the thread count is each worker's (None: its OpenMP setting), not ours
            data = DaskGMMData(X, self.covariance_type, self._thread_setting())
            n_samples, n_features = data.n_samples, data.X.shape[1]
            self.n_features_in_ = n_features
            dtype = data.dtype
        else:
            X = validate_data(self, X, reset=True, dtype=FLOAT_DTYPES, ensure_min_samples=2,
                              name="X")
            (n_samples, n_features), dtype = X.shape, X.dtype
            data = None
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {n_samples}"
            )
        if stepwise:
            self._check_parameters(X)
        else:
            init_arrays = self._check_init_arrays(n_features, dtype)
            if data is None:
                data = GMMData(X, self.covariance_type, n_threads)

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        best = dict(lower_bound=-np.inf, params=None, n_iter=0, lower_bounds=[],
                    converged=False)
        random_state = check_random_state(self.random_state)
        first_init, start = 0, None
        if resume is not None:
            first_init, start = int(resume["init"]), resume
            random_state = restore_rng(resume["rng_state"])
            best = dict(lower_bound=float(resume["best_lower_bound"]),
                        params=_state_params(resume, "best_") if resume["has_best"] else None,
                        n_iter=int(resume["best_n_iter"]),
                        lower_bounds=list(resume["best_lower_bounds"]),
                        converged=bool(resume["best_converged"]))

        for init in range(first_init, n_init):
            self._print_verbose_msg_init_beg(init)
            if start is not None:  # the start a checkpoint was taken in
                params = self._cast_params(dtype, *_state_params(start, ""))
                lower_bound, n_done = float(start["lower_bound"]), int(start["n_iter"])
                current_lower_bounds = list(start["lower_bounds"])
                start = None
                if stepwise:
                    self._set_parameters(params)
            else:
                if stepwise:
                    # the steps keep the parameters on self, as scikit-learn's
                    if do_init:
                        self._initialize_parameters(X, random_state)
                    params = self._get_parameters()
                elif do_init:
                    params = self._initialize_fused(data, random_state, init_arrays)
                else:
                    params = self._cast_params(dtype, self.weights_, self.means_,
                                               self.covariances_, self.precisions_cholesky_)
                lower_bound = -np.inf if do_init else self.lower_bound_
                n_done, current_lower_bounds = 0, []

            if self.max_iter == 0:
                best.update(params=params, n_iter=0)
                continue
            converged = False
            n_iter = n_done
            for n_iter in range(n_done + 1, self.max_iter + 1):
                prev_lower_bound = lower_bound
                if stepwise:
                    lower_bound, params = self._stepwise_em_step(X)
                else:
                    lower_bound, params = self._em_step(data, params)
                current_lower_bounds.append(lower_bound)
                change = lower_bound - prev_lower_bound
                self._print_verbose_msg_iter_end(n_iter, change)
                if abs(change) < self.tol:
                    converged = True
                    break
                if callback is not None:
                    callback(_em_state(init, n_iter, params, lower_bound, current_lower_bounds,
                                       best, random_state))
            self._print_verbose_msg_init_end(lower_bound, converged)
            if lower_bound > best["lower_bound"] or best["lower_bound"] == -np.inf:
                best.update(lower_bound=lower_bound, params=params, n_iter=n_iter,
                            lower_bounds=current_lower_bounds, converged=converged)

        self.converged_ = best["converged"]
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init "
                "parameters, or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
            )
        self._set_parameters(best["params"])
        self.n_iter_ = best["n_iter"]
        self.lower_bound_ = best["lower_bound"]
        self.lower_bounds_ = best["lower_bounds"]
        labels = None
        if stepwise:
            # scikit-learn's final E-step (its fit and fit_predict both run it)
            labels = self._e_step(X)[1].argmax(axis=1)
        return data, labels

    def _fit_checkpointed(self, X, callback=None, resume=None):
        """``fit`` that reports its state after each EM iteration and can resume from it.

        Used by the command line's ``--checkpoint``/``--resume``.
        """
        with single_threaded_blas():
            self._fit_em(X, callback=callback, resume=resume)
        return self

    def _model(self):
        return (self.weights_, self.means_, self.precisions_cholesky_, self.covariance_type)

    # -- prediction -------------------------------------------------------
    def _estimate(self, X, output):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES, name="X")
        # the model's own mean is close to the data, at no cost
        center = self.weights_.astype(np.float64) @ self.means_.astype(np.float64)
        n_threads = effective_n_threads(self._thread_setting())
        return X, kernels.gmm_estimate(X, *self._model(), output=output, center=center,
                                       n_threads=n_threads)

    def _per_row(self, X, output):
        """``output`` ('score', 'labels' or 'proba') of each row of X.

        Computed tile by tile; for a dask X, lazily, block by block (the
        tiles stay with their block).
        """
        if is_dask_array(X):
            return self._map_blocks(X, output)
        if self._stepwise_estimates:
            return self._per_row_stepwise(X, output)
        X, (log_prob, result) = self._estimate(X, output)
        return log_prob.astype(X.dtype, copy=False) if output == "score" else result

    def _per_row_stepwise(self, X, output):
        """:meth:`_per_row` as scikit-learn computes it, through the ``_estimate_*`` steps."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES, name="X")
        if output == "proba":
            return np.exp(self._estimate_log_prob_resp(X)[1])
        weighted = self._estimate_weighted_log_prob(X)
        return weighted.argmax(axis=1) if output == "labels" else logsumexp(weighted, axis=1)

    def _map_blocks(self, X, output):
        """:meth:`_per_row` on each row block of a dask X, lazily."""
        from .._utils.dask import prepare

        check_is_fitted(self)
        X, _ = prepare(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but GaussianMixture is expecting "
                             f"{self.n_features_in_} features as input.")

        def per_block(block):
            return self._per_row(np.asarray(block), output)

        if output == "proba":
            return X.map_blocks(per_block, dtype=X.dtype,
                                chunks=(X.chunks[0], (self.n_components,)))
        return X.map_blocks(per_block, drop_axis=1,
                            dtype=np.int64 if output == "labels" else X.dtype)

    def score_samples(self, X):
        """Log-likelihood of each row of X under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            In X's dtype (a lazy dask array for a dask X).
        """
        return self._per_row(X, "score")

    def score(self, X, y=None):
        """Mean log-likelihood of the rows of X under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        float
            The mean of :meth:`score_samples`, taken in float64.
        """
        if self._stepwise_estimates:
            return float(np.mean(self._per_row_stepwise(X, "score")))
        _, (log_prob, _) = self._estimate(X, "score")
        return float(np.mean(log_prob))

    def predict(self, X):
        """The most probable component of each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A dask array gives a lazy dask array of labels.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._per_row(X, "labels")

    def predict_proba(self, X):
        """Responsibilities: the posterior probability of each component for each row.

        Only the output is n_samples x n_components; it is filled tile by tile.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            A lazy dask array for a dask X.
        """
        return self._per_row(X, "proba")

    def sample(self, n_samples=1):
        """Draw new data from the fitted mixture (as scikit-learn's, same stream).

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), float64
        y : ndarray of shape (n_samples,)
            The component each row was drawn from.
        """
        check_is_fitted(self)
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
            raise TypeError(f"n_samples must be an int, got {n_samples!r}.")
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling requires at "
                "least one sample."
            )
        _, n_features = self.means_.shape
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_.astype(np.float64))
        means = self.means_.astype(np.float64)
        covs = self.covariances_.astype(np.float64)
        if self.covariance_type == "full":
            X = np.vstack([rng.multivariate_normal(mu, c, int(m))
                           for mu, c, m in zip(means, covs, counts)])
        elif self.covariance_type == "tied":
            X = np.vstack([rng.multivariate_normal(mu, covs, int(m))
                           for mu, m in zip(means, counts)])
        else:
            X = np.vstack([mu + rng.standard_normal(size=(m, n_features)) * np.sqrt(c)
                           for mu, c, m in zip(means, covs, counts)])
        y = np.concatenate([np.full(m, k, dtype=np.int64) for k, m in enumerate(counts)])
        return X, y

    def _n_parameters(self):
        """Number of free parameters of the model."""
        _, d = self.means_.shape
        K = self.n_components
        cov_params = {
            "full": K * d * (d + 1) / 2.0,
            "diag": K * d,
            "tied": d * (d + 1) / 2.0,
            "spherical": K,
        }[self.covariance_type]
        return int(cov_params + d * K + K - 1)

    def _information_criterion(self, X, weight):
        """``-2 * log-likelihood of X + weight * n_parameters``."""
        return -2 * self.score(X) * np.shape(X)[0] + weight * self._n_parameters()

    def bic(self, X):
        """Bayesian information criterion on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Its number of rows is the n of ``log(n)`` below.

        Returns
        -------
        float
            ``-2 * log-likelihood of X + log(n_samples) * n_parameters``.
        """
        return self._information_criterion(X, math.log(np.shape(X)[0]))

    def aic(self, X):
        """Akaike information criterion on X (lower is better).

        Each free parameter costs 2, whatever the number of samples (the
        :meth:`bic` charges ``log(n_samples)``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        float
        """
        return self._information_criterion(X, 2)

    # -- scikit-learn protocol ---------------------------------------------
    def __sklearn_is_fitted__(self):
        return hasattr(self, "precisions_cholesky_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "density_estimator"
        tags.transformer_tags = None
        return tags

    # -- verbose output, as scikit-learn prints it ------------------------
    def _print_verbose_msg_init_beg(self, n_init):
        if self.verbose >= 1:
            print(f"Initialization {n_init}")
        if self.verbose >= 2:
            self._init_prev_time = time.time()
            self._iter_prev_time = self._init_prev_time

    def _print_verbose_msg_iter_end(self, n_iter, diff_ll):
        if n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            elif self.verbose >= 2:
                cur_time = time.time()
                print(f"  Iteration {n_iter}\t time lapse "
                      f"{cur_time - self._iter_prev_time:.5f}s\t ll change {diff_ll:.5f}")
                self._iter_prev_time = cur_time

    def _print_verbose_msg_init_end(self, lb, init_has_converged):
        msg = "converged" if init_has_converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {msg}.")
        elif self.verbose >= 2:
            t = time.time() - self._init_prev_time
            print(f"Initialization {msg}. time lapse {t:.5f}s\t lower bound {lb:.5f}.")
