"""The NMF estimator and its functional forms.

:class:`NMF` mirrors scikit-learn's ``NMF`` (same parameters, defaults,
methods and fitted attributes); :func:`non_negative_factorization` and
:func:`masked_non_negative_factorization` are its functional forms. The
solvers are in :mod:`._solvers` (dense and sparse X), :mod:`._masked`
(missing entries) and :mod:`._dask` (a row-chunked dask array).

Solvers
-------
``cd``
    HALS (block coordinate descent). By default *accelerated*: after the
    costly products ``X @ H.T`` and ``H @ H.T`` each row of W gets several
    cheap coordinate sweeps, until a sweep gains little (Gillis & Glineur,
    2012). ``max_inner_iter=1`` gives scikit-learn's single sweep.
``mu``
    Multiplicative updates for any beta-divergence (Lee & Seung 2001,
    Fevotte & Idier 2011), with the same safeguards as scikit-learn.
"""
import warnings

import numpy as np

from .._base import BaseEstimator, TransformerMixin, check_is_fitted
from .._utils.dask import is_dask_array
from .._utils.threads import single_threaded_blas
from .._utils.validation import check_array, check_float, check_int, check_option
from ..checkpoint import require_values
from ._dask import DaskNMF
from ._data import NMFData
from ._estimator import NMFEstimatorMixin
from ._init import INIT_METHODS, initialize_nmf
from ._losses import beta_divergence, beta_loss_to_float
from ._masked import has_missing, nmf_fit_transform, nmf_transform
from ._solvers import (
    check_penalties,
    fit_hals,
    fit_multiplicative,
    run_solver,
    scaled_penalties,
    warn_if_max_iter,
)
from ._validation import check_beta_zeros, check_custom_factors, check_fixed_H, has_zero

__all__ = ["NMF", "non_negative_factorization", "masked_non_negative_factorization"]


# ---------------------------------------------------------------------- estimator

class NMF(NMFEstimatorMixin, TransformerMixin, BaseEstimator):
    """Non-negative matrix factorization, a drop-in for scikit-learn's ``NMF``.

    Finds non-negative W (n_samples, n_components) and H (n_components,
    n_features) minimising::

        D_beta(X, W H)
          + alpha_W * l1_ratio * n_features * ||W||_1
          + alpha_H * l1_ratio * n_samples * ||H||_1
          + 0.5 * alpha_W * (1 - l1_ratio) * n_features * ||W||_F^2
          + 0.5 * alpha_H * (1 - l1_ratio) * n_samples * ||H||_F^2

    Parameters
    ----------
    n_components : int, 'auto' or None, default='auto'
        Number of components. 'auto' takes it from a custom W or H, else
        n_features (like None).
    init : {'random', 'nndsvd', 'nndsvda', 'nndsvdar', 'custom'} or None
        Initialisation; None is 'nndsvda' when n_components <= min(X.shape),
        otherwise 'random'.
    solver : {'cd', 'mu'}, default='cd'
        'cd': accelerated HALS coordinate descent (Frobenius loss only);
        'mu': multiplicative updates (any beta_loss).
    beta_loss : float or {'frobenius', 'kullback-leibler', 'itakura-saito'}
        The beta-divergence to minimise; only 'mu' handles beta != 2.
    tol : float, default=1e-4
        Stopping tolerance (relative, as in scikit-learn).
    max_iter : int, default=200
        Maximum number of outer iterations.
    random_state : int, RandomState, Generator or None
        Seeds the 'random'/'nndsvdar' init, the SVD of NNDSVD and ``shuffle``.
    alpha_W : float, default=0.0
        Regularisation strength of W.
    alpha_H : float or 'same', default='same'
        Regularisation strength of H ('same': alpha_W).
    l1_ratio : float in [0, 1], default=0.0
        Mix of L1 (1.0) and L2 (0.0) regularisation.
    verbose : int, default=0
        Print progress when > 0.
    shuffle : bool, default=False
        Randomise the coordinate order in 'cd'.
    max_inner_iter : int or 'auto', default='auto'
        'cd' only: coordinate sweeps per row for each outer iteration.
        'auto' is accelerated HALS; 1 reproduces scikit-learn's solver.
    n_threads : int or None, default=None
        Threads for the compiled kernels; None follows OpenMP's setting
        (``threadpoolctl.threadpool_limits`` applies).
    n_jobs : int or None, default=None
        Alias of n_threads (scikit-learn's name).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The factor H.
    n_components_ : int
    reconstruction_err_ : float
        ``sqrt(2 * D_beta(X, W H))`` at the end of fit (the Frobenius norm
        of the residual for the Frobenius loss).
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X is a DataFrame with string column names.
    loss_history_ : list of float
        Loss (``D_beta``, not square-rooted) after each iteration ('cd') or
        at each convergence test ('mu').
    """

    def __init__(self, n_components="auto", *, init=None, solver="cd",
                 beta_loss="frobenius", tol=1e-4, max_iter=200, random_state=None,
                 alpha_W=0.0, alpha_H="same", l1_ratio=0.0, verbose=0, shuffle=False,
                 max_inner_iter="auto", n_threads=None, n_jobs=None):
        self._store_init_arguments(locals())

    # -- parameters -------------------------------------------------------
    def _check_params(self, X):
        """Validate hyper-parameters; returns the resolved n_components and beta."""
        n_components = self._check_n_components(X)
        check_option(self.solver, "solver", ("cd", "mu"))
        if self.init is not None:
            check_option(self.init, "init", INIT_METHODS)
        beta = beta_loss_to_float(self.beta_loss)
        if self.solver != "mu" and beta != 2:
            raise ValueError(
                f"Invalid beta_loss parameter: solver {self.solver!r} does not handle "
                f"beta_loss = {self.beta_loss!r}. That loss needs solver='mu' (solver "
                f"{self.solver!r} handles only the Frobenius loss)."
            )
        if self.solver == "mu" and self.init == "nndsvd":
            warnings.warn(
                "The multiplicative update ('mu') solver cannot update zeros present in "
                "the initialization, and so leads to poorer results when used jointly "
                "with init='nndsvd'. You may try init='nndsvda' or init='nndsvdar' instead.",
                UserWarning,
            )
        check_float(self.tol, "tol", min_value=0.0)
        check_int(self.max_iter, "max_iter", min_value=1)
        check_penalties(self.alpha_W, self.alpha_H, self.l1_ratio)
        check_int(int(self.verbose) if isinstance(self.verbose, bool) else self.verbose,
                  "verbose", min_value=0)
        if self.max_inner_iter != "auto" or not isinstance(self.max_inner_iter, str):
            check_int(self.max_inner_iter, "max_inner_iter", min_value=1)
        if not isinstance(self.shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be a bool, got {self.shuffle!r}.")
        return n_components, beta

    def _regularization(self, X):
        """``(l1_W, l1_H, l2_W, l2_H)`` for data of X's shape."""
        return scaled_penalties(self.alpha_W, self.alpha_H, self.l1_ratio, X.shape)

    def _initial_factors(self, X, W, H, n_components, update_H):
        """Validate custom factors or compute the initialisation."""
        n_samples, n_features = X.shape
        if self.init == "custom" and update_H:
            W, H = check_custom_factors(W, H, n_samples, n_features, n_components, X.dtype)
            return W.copy(), H.copy()
        if not update_H:
            if W is not None:
                warnings.warn("When update_H=False, the provided initial W is not used.",
                              RuntimeWarning)
            H = check_fixed_H(H, n_components, n_features, X.dtype)
            n_components = H.shape[0]
            if self.solver == "mu":
                # the 'mu' solver cannot move away from zeros: start from the mean
                avg = np.sqrt(float(X.sum(dtype=np.float64)) / (n_samples * n_features)
                              / n_components)
                W = np.full((n_samples, n_components), avg, dtype=X.dtype)
            else:
                W = np.zeros((n_samples, n_components), dtype=X.dtype)
            return W, H
        if W is not None or H is not None:
            warnings.warn("When init!='custom', provided W or H are ignored. Set "
                          "init='custom' to use them as initialization.", RuntimeWarning)
        if n_components == "auto":
            n_components = n_features
        return initialize_nmf(X, n_components, init=self.init, random_state=self.random_state)

    # -- fitting ----------------------------------------------------------
    def _fit_transform(self, X, W=None, H=None, update_H=True, callback=None, resume=None):
        """Core of fit/transform on a validated X; returns W, H, n_iter, losses.

        ``callback``/``resume``: see :meth:`_fit_checkpointed`.
        """
        n_components, beta = self._check_params(X)
        check_beta_zeros(beta, self.beta_loss, lambda: has_zero(X))
        if resume is None:
            W, H = self._initial_factors(X, W, H, n_components, update_H)
            Ht = H.T
        else:
            require_values(resume, ("W", "Ht"), "NMF")
            W, Ht = resume["W"].copy(), resume["Ht"].copy()
            if W.shape[0] != X.shape[0] or Ht.shape[0] != X.shape[1]:
                raise ValueError(f"the checkpoint was made for data of shape "
                                 f"{(W.shape[0], Ht.shape[0])}, not {X.shape}")
        W = np.ascontiguousarray(W, dtype=X.dtype)
        Ht = np.ascontiguousarray(Ht, dtype=X.dtype)
        n_threads = self._effective_n_threads()
        data = NMFData(X, n_threads)
        # One thread pool for the whole fit: the products are split over the
        # OpenMP threads (see NMFData), so BLAS's own threads are never woken
        # and never spin while the OpenMP kernels want the cores.
        with single_threaded_blas():
            n_iter, losses = run_solver(self, fit_hals, fit_multiplicative, data, W, Ht,
                                        beta=beta, update_H=update_H, n_threads=n_threads,
                                        callback=callback, resume=resume)
        return W, np.ascontiguousarray(Ht.T), n_iter, losses, data, beta

    def _fit_dask(self, X, W=None, H=None, callback=None, resume=None):
        """Fit on a row-chunked dask array (see :mod:`fastfactor.nmf._dask`); returns W."""
        n_components, beta = self._check_params(X)
        if n_components == "auto" and not (self.init == "custom" and H is not None):
            n_components = X.shape[1]
        self._effective_n_threads()  # checked here; resolved by each worker:
        # None follows the worker's OpenMP setting (dask's nanny sets 1 thread), not ours
        dist = DaskNMF(X, self._thread_setting())
        check_beta_zeros(beta, self.beta_loss, dist.min == 0)
        self.n_features_in_ = X.shape[1]
        if resume is not None:
            W, Ht = resume["W"].copy(), resume["Ht"].copy()
        elif self.init == "custom":
            W, H = check_custom_factors(W, H, X.shape[0], X.shape[1], n_components, dist.dtype)
            W, Ht = W.copy(), np.ascontiguousarray(H.T)
        else:
            W, H = dist.initial_factors(n_components, self.init, self.random_state)
            Ht = np.ascontiguousarray(H.T)
        l1_W, l1_H, l2_W, l2_H = self._regularization(X)
        W_blocks, Ht, n_iter, losses = dist.run(
            np.ascontiguousarray(W, dtype=dist.dtype), np.ascontiguousarray(Ht, dtype=dist.dtype),
            self.solver, beta=beta, tol=float(self.tol), max_iter=int(self.max_iter),
            l1_reg_W=l1_W, l1_reg_H=l1_H, l2_reg_W=l2_W, l2_reg_H=l2_H, verbose=self.verbose,
            shuffle=self.shuffle, random_state=self.random_state,
            max_inner_iter=self.max_inner_iter, callback=callback, resume=resume)
        warn_if_max_iter(n_iter, self.max_iter, self.tol)
        self._set_fitted(np.ascontiguousarray(Ht.T), n_iter, losses,
                         dist.loss(W_blocks, Ht, beta))
        return dist.W_array(W_blocks, Ht.shape[1])

    def fit_transform(self, X, y=None, W=None, H=None, mask=None):
        """Learn the factorization of X and return W.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative data.
        y : Ignored
        W : array-like of shape (n_samples, n_components), optional
            Initial W when ``init='custom'``.
        H : array-like of shape (n_components, n_features), optional
            Initial H when ``init='custom'``.
        mask : bool array-like or sparse matrix of X's shape, optional
            True where X is observed (masked NMF; NaN in X also marks missing).

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
        """
        if is_dask_array(X):
            if mask is not None:
                raise ValueError("mask= is not supported with a dask array X yet")
            return self._fit_dask(X, W=W, H=H)
        if mask is not None or has_missing(X):  # NaN or mask=: the masked solvers
            return nmf_fit_transform(self, X, mask=mask, W=W, H=H)
        return self._fit_local(X, W=W, H=H)

    def _fit_checkpointed(self, X, callback=None, resume=None):
        """``fit`` that reports its state after each iteration and can resume from it.

        ``callback(state)`` receives a dict of arrays and JSON-friendly values
        (the complete solver state); ``resume`` takes such a dict back and
        continues exactly where it was taken. Used by the command line's
        ``--checkpoint``/``--resume``.
        """
        if is_dask_array(X):
            self._fit_dask(X, callback=callback, resume=resume)
            return self
        self._fit_local(X, callback=callback, resume=resume)
        return self

    def _fit_local(self, X, **fit_args):
        """Fit on an in-memory X without missing entries; returns W."""
        X = self._validate_X(X, reset=True)
        W, H, n_iter, losses, data, beta = self._fit_transform(X, **fit_args)
        loss = beta_divergence(data, W, np.ascontiguousarray(H.T), beta)
        self._set_fitted(H, n_iter, losses, loss)
        return W

    def _set_fitted(self, H, n_iter, losses, loss):
        """Store the fitted model; ``loss`` is the final beta-divergence (every path's own)."""
        self.reconstruction_err_ = float(np.sqrt(2 * loss))
        self.n_components_ = H.shape[0]
        # scikit-learn's private name for the resolved n_components ('auto' and
        # None made concrete); code written against it reads it
        self._n_components = H.shape[0]
        self.components_ = H
        self.n_iter_ = n_iter
        self.loss_history_ = losses

    def transform(self, X, mask=None):
        """Compute W for X with the learned components held fixed.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        mask : bool array-like or sparse matrix of X's shape, optional
            True where X is observed (masked NMF; NaN in X also marks missing).

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self, "components_")
        if is_dask_array(X):  # each row block is transformed where it lives
            from .._utils.dask import prepare

            X, _ = prepare(X)
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but NMF is expecting "
                                 f"{self.n_features_in_} features as input.")
            return X.map_blocks(lambda block: self.transform(np.asarray(block)),
                                dtype=X.dtype, chunks=(X.chunks[0], (self.n_components_,)))
        if mask is not None or has_missing(X):  # NaN or mask=: the masked solvers
            return nmf_transform(self, X, mask=mask)
        X = self._validate_X(X, reset=False)
        H = self.components_.astype(X.dtype, copy=False)
        W, *_ = self._fit_transform(X, H=H, update_H=False)
        return W

    def _update_tags(self, tags):
        super()._update_tags(tags)
        tags.input_tags.allow_nan = True  # NaN marks a missing entry (masked NMF)


def non_negative_factorization(X, W=None, H=None, n_components="auto", *, init=None,
                               update_H=True, solver="cd", beta_loss="frobenius", tol=1e-4,
                               max_iter=200, alpha_W=0.0, alpha_H="same", l1_ratio=0.0,
                               random_state=None, verbose=0, shuffle=False,
                               max_inner_iter="auto", n_threads=None, n_jobs=None):
    """Compute the NMF of X (functional form of :class:`NMF`).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    W, H : array-like, optional
        Initial factors for ``init='custom'``; with ``update_H=False``, H is
        held fixed and only W is solved for.
    n_components, init, solver, beta_loss, tol, max_iter, alpha_W, alpha_H,
    l1_ratio, random_state, verbose, shuffle, max_inner_iter, n_threads
        As in :class:`NMF`.
    n_jobs : int or None, default=None
        Alias of n_threads (scikit-learn's name).
    update_H : bool, default=True
        Whether to update H (False solves for W given H).

    Returns
    -------
    W : ndarray of shape (n_samples, n_components)
    H : ndarray of shape (n_components, n_features)
    n_iter : int
    """
    est = NMF(n_components=n_components, init=init, solver=solver, beta_loss=beta_loss,
              tol=tol, max_iter=max_iter, random_state=random_state, alpha_W=alpha_W,
              alpha_H=alpha_H, l1_ratio=l1_ratio, verbose=verbose, shuffle=shuffle,
              max_inner_iter=max_inner_iter, n_threads=n_threads, n_jobs=n_jobs)
    X = check_array(X, accept_sparse=True, ensure_non_negative=True,
                    whom="non_negative_factorization")
    W, H, n_iter, *_ = est._fit_transform(X, W=W, H=H, update_H=update_H)
    return W, H, n_iter


def masked_non_negative_factorization(X, mask=None, n_components="auto", *, n_threads=None,
                                      n_jobs=None, **params):
    """Functional form: ``(W, H, n_iter)`` of the masked NMF of X.

    Parameters
    ----------
    X : array-like (NaN marks missing) or sparse matrix
    mask : bool array-like or sparse matrix of X's shape, optional
        True where an entry is observed.
    n_components : int or 'auto'
    n_threads : int or None, default=None
        As in :class:`NMF`.
    n_jobs : int or None, default=None
        Alias of n_threads (scikit-learn's name).
    **params
        Any other :class:`fastfactor.NMF` parameter.

    Returns
    -------
    W, H : ndarrays
    n_iter : int
    """
    est = NMF(n_components=n_components, n_threads=n_threads, n_jobs=n_jobs, **params)
    W = nmf_fit_transform(est, X, mask=mask)
    return W, est.components_, est.n_iter_
