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
:mod:`._dask`).
"""
import math
import time
import warnings

import numpy as np

from .. import kernels
from .._utils.dask import is_dask_array
from ..checkpoint import encode_rng_state, restore_rng
from .._base import BaseEstimator, check_is_fitted
from .._utils.threads import effective_n_threads, resolve_n_threads, single_threaded_blas
from .._utils.validation import (
    FLOAT_DTYPES,
    check_float,
    check_gmm_means,
    check_gmm_precisions,
    check_gmm_weights,
    check_int,
    check_option,
    check_random_state,
    validate_data,
)
from ..exceptions import ConvergenceWarning
from ._data import GMMData
from ._init import initial_stats
from ._m_step import (
    _covariances_from_cholesky,
    _estimate_parameters,
    _precisions_cholesky,
    _precisions_cholesky_from_precisions,
    _precisions_from_cholesky,
)

__all__ = ["GaussianMixture"]

COVARIANCE_TYPES = kernels.COVARIANCE_TYPES
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")

_PARAM_NAMES = ("weights", "means", "covariances", "precisions_cholesky")


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
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3, reg_covar=1e-6,
                 max_iter=100, n_init=1, init_params="kmeans", weights_init=None,
                 means_init=None, precisions_init=None, random_state=None, warm_start=False,
                 verbose=0, verbose_interval=10, n_threads=None, n_jobs=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.n_jobs = n_jobs

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

    # -- initialization ---------------------------------------------------
    def _initialize(self, data, random_state, init_arrays):
        w_init, m_init, p_init = init_arrays
        n, d = data.n_samples, data.X.shape[1]
        K, cov = self.n_components, self.covariance_type
        weights = means = covariances = None
        if w_init is None or m_init is None or p_init is None:
            nk_raw, s1, s2 = initial_stats(data, self.init_params, K, cov, random_state)
            centers = np.broadcast_to(data.center, (K, d))
            nk, means, covariances = _estimate_parameters(
                data, cov, self.reg_covar, nk_raw, s1, s2, centers)
            weights = nk / n
        weights = weights if w_init is None else w_init.astype(np.float64)
        means = means if m_init is None else m_init.astype(np.float64)
        if p_init is None:
            prec_chol = _precisions_cholesky(covariances, cov, data.dtype)
        else:
            prec_chol = _precisions_cholesky_from_precisions(p_init.astype(np.float64), cov)
            covariances = _covariances_from_cholesky(prec_chol, cov)
        return self._cast_params(data.dtype, weights, means, covariances, prec_chol)

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
        new_weights = nk / nk.sum()
        prec_chol = _precisions_cholesky(covariances, cov, data.dtype)
        return lower_bound, self._cast_params(data.dtype, new_weights, new_means,
                                              covariances, prec_chol)

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
        data = self._fit(X)
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
        """
        n_threads = self._check_params()
        if is_dask_array(X):
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
            else:
                if do_init:
                    params = self._initialize(data, random_state, init_arrays)
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
        return data

    def _fit_checkpointed(self, X, callback=None, resume=None):
        """``fit`` that reports its state after each EM iteration and can resume from it.

        Used by the command line's ``--checkpoint``/``--resume``.
        """
        with single_threaded_blas():
            self._fit_em(X, callback=callback, resume=resume)
        return self

    def _set_parameters(self, params):
        (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_) = params
        self.precisions_ = _precisions_from_cholesky(
            self.precisions_cholesky_, self.covariance_type).astype(self.means_.dtype)

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
        X, (log_prob, result) = self._estimate(X, output)
        return log_prob.astype(X.dtype, copy=False) if output == "score" else result

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
