"""Online NMF: mini-batch multiplicative updates (Lefevre, Bach & Fevotte 2011).

:class:`MiniBatchNMF` is a drop-in for scikit-learn's estimator of the same
name: the same parameters, defaults, stopping rules and fitted attributes.
Each step takes a batch of rows ``X_b``, updates their codes ``W_b`` with H
fixed, then updates H from running sums of the multiplicative update's
numerator and denominator, both discounted by ``rho`` per step::

    A = rho * A + H^(1/gamma) * numerator(X_b, W_b, H)
    B = rho * B + denominator(X_b, W_b, H)
    H = (A / B)^gamma

Where it is faster than scikit-learn, at the same iterates:

* the batch cost for the Frobenius loss comes from Gram matrices and the
  products the updates need anyway, never from an ``X_b - W_b H`` array;
* W solves with H fixed (``transform``, ``fresh_restarts``) compute
  ``X H^T`` and ``H H^T`` once instead of every iteration;
* element-wise work runs in the parallel kernels of :mod:`fastfactor.kernels`.

With ``max_inner_iter='auto'`` (the default) and the Frobenius loss, each
step also repeats the cheap W update a few times on the products it already
has (like accelerated HALS), which reaches a given loss in fewer steps.
``max_inner_iter=1`` gives exactly scikit-learn's iterates.

Data can be a memory-mapped array (only one batch of rows is touched at a
time) or a stream of chunks fed to :meth:`MiniBatchNMF.partial_fit`.
"""
import warnings

import numpy as np
import scipy.sparse as sp

from .. import kernels
from .._base import BaseEstimator, TransformerMixin, check_is_fitted
from ._data import EPSILON, NMFData
from ._init import INIT_METHODS, initialize_nmf
from .._utils.threads import MIN_PARALLEL_SIZE, effective_n_threads
from .._utils.validation import (
    check_array,
    check_float,
    check_init_factor,
    check_int,
    check_option,
    validate_data,
)
from ..exceptions import ConvergenceWarning
from ._nmf import (
    _mu_H_terms,
    _mu_W_terms,
    beta_divergence,
    beta_loss_to_float,
)

__all__ = ["MiniBatchNMF"]

_FLOAT64_EPS = np.finfo(np.float64).eps
# 'auto' inner W updates per step (Frobenius): as many as cost about half of
# the step's two big products, capped.
_INNER_ALPHA = 0.5
_MAX_INNER_CAP = 10


class _FrobeniusData:
    """The two products the Frobenius path needs from a batch, and its squared norm.

    Lighter than :class:`NMFData`: no upfront pass over the batch, the
    squared norm comes from row norms computed once per fit.
    """

    def __init__(self, X, n_threads, sq_norm=None):
        self.X = X
        self.sparse = sp.issparse(X)
        self.n_threads = n_threads
        self._sq_norm = sq_norm

    @property
    def sq_norm(self):
        if self._sq_norm is None:
            self._sq_norm = float(_row_sq_norms(self.X).sum())
        return self._sq_norm

    def dot(self, B):
        if self.sparse:
            return kernels.csr_matmul(self.X, B, n_threads=self.n_threads)
        return self.X @ B

    def tdot(self, B):
        if self.sparse:
            return kernels.csr_matmul(sp.csr_matrix(self.X.T), B, n_threads=self.n_threads)
        return self.X.T @ B


def _row_sq_norms(X):
    """Squared norm of every row, accumulated in float64."""
    if sp.issparse(X):
        values = X.data.astype(np.float64)
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        return np.bincount(rows, weights=values * values, minlength=X.shape[0])
    return np.einsum("ij,ij->i", X, X, dtype=np.float64)


def _batches(n_samples, batch_size):
    """Row slices of at most ``batch_size`` rows covering ``range(n_samples)``."""
    return [slice(start, min(start + batch_size, n_samples))
            for start in range(0, n_samples, batch_size)]


class MiniBatchNMF(TransformerMixin, BaseEstimator):
    """Mini-batch non-negative matrix factorization, a drop-in for scikit-learn's.

    Minimises the same objective as :class:`fastfactor.NMF`
    (beta-divergence plus the scaled L1/L2 penalties) by multiplicative
    updates on mini-batches of rows, with H learned online.

    Parameters
    ----------
    n_components : int, 'auto' or None, default='auto'
        Number of components ('auto': from custom W/H, else n_features).
    init : {'random', 'nndsvd', 'nndsvda', 'nndsvdar', 'custom'} or None
        Initialisation of the factors (None: 'nndsvda' if n_components <=
        min(X.shape) else 'random').
    batch_size : int, default=1024
        Rows per mini-batch.
    beta_loss : float or {'frobenius', 'kullback-leibler', 'itakura-saito'}
        The beta-divergence minimised.
    tol : float, default=1e-4
        Stop when the relative change of H between steps is at most tol
        (0 disables it).
    max_no_improvement : int or None, default=10
        Stop after this many steps without improvement of the smoothed
        batch cost (None disables it).
    max_iter : int, default=200
        Maximum passes over the data.
    alpha_W, alpha_H, l1_ratio : float
        Regularisation, as in :class:`fastfactor.NMF` (``alpha_H='same'``
        uses alpha_W).
    forget_factor : float in [0, 1], default=0.7
        Weight of past batches in H's running sums (per pass over the data).
    fresh_restarts : bool, default=False
        Solve each batch's W to convergence instead of one update.
    fresh_restarts_max_iter : int, default=30
        Iterations of those solves.
    transform_max_iter : int or None, default=None
        Iterations of the W solve in ``transform`` (None: max_iter).
    random_state : int, RandomState, Generator or None
    verbose : int, default=0
    max_inner_iter : int or 'auto', default='auto'
        W updates per step reusing the step's products (Frobenius loss
        only); 1 reproduces scikit-learn's iterates.
    n_threads : int or None, default=None
        Threads for the compiled kernels (None follows OpenMP).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    n_components_ : int
    reconstruction_err_ : float
        ``sqrt(2 * D_beta(X, W H))`` on the fitted data (fit only).
    n_iter_ : int
        Passes over the data started.
    n_steps_ : int
        Mini-batches processed.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    """

    def __init__(self, n_components="auto", *, init=None, batch_size=1024,
                 beta_loss="frobenius", tol=1e-4, max_no_improvement=10, max_iter=200,
                 alpha_W=0.0, alpha_H="same", l1_ratio=0.0, forget_factor=0.7,
                 fresh_restarts=False, fresh_restarts_max_iter=30, transform_max_iter=None,
                 random_state=None, verbose=0, max_inner_iter="auto", n_threads=None):
        self.n_components = n_components
        self.init = init
        self.batch_size = batch_size
        self.beta_loss = beta_loss
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.max_iter = max_iter
        self.alpha_W = alpha_W
        self.alpha_H = alpha_H
        self.l1_ratio = l1_ratio
        self.forget_factor = forget_factor
        self.fresh_restarts = fresh_restarts
        self.fresh_restarts_max_iter = fresh_restarts_max_iter
        self.transform_max_iter = transform_max_iter
        self.random_state = random_state
        self.verbose = verbose
        self.max_inner_iter = max_inner_iter
        self.n_threads = n_threads

    # -- parameters -------------------------------------------------------
    def _check_params(self, X):
        n_components = self.n_components
        if n_components is None:
            n_components = X.shape[1]
        elif not (isinstance(n_components, str) and n_components == "auto"):
            n_components = check_int(n_components, "n_components", min_value=1)
        if self.init is not None:
            check_option(self.init, "init", INIT_METHODS)
        self._beta_loss = beta_loss_to_float(self.beta_loss)
        check_float(self.tol, "tol", min_value=0.0)
        check_int(self.max_iter, "max_iter", min_value=1)
        check_int(self.max_no_improvement, "max_no_improvement", min_value=1, allow_none=True)
        check_int(self.batch_size, "batch_size", min_value=1)
        check_float(self.forget_factor, "forget_factor", min_value=0.0, max_value=1.0)
        check_float(self.alpha_W, "alpha_W", min_value=0.0)
        if not (isinstance(self.alpha_H, str) and self.alpha_H == "same"):
            check_float(self.alpha_H, "alpha_H", min_value=0.0)
        check_float(self.l1_ratio, "l1_ratio", min_value=0.0, max_value=1.0)
        if not isinstance(self.fresh_restarts, (bool, np.bool_)):
            raise TypeError(f"fresh_restarts must be a bool, got {self.fresh_restarts!r}.")
        check_int(self.fresh_restarts_max_iter, "fresh_restarts_max_iter", min_value=1)
        check_int(self.transform_max_iter, "transform_max_iter", min_value=1, allow_none=True)
        check_int(int(self.verbose) if isinstance(self.verbose, bool) else self.verbose,
                  "verbose", min_value=0)
        if not (isinstance(self.max_inner_iter, str) and self.max_inner_iter == "auto"):
            check_int(self.max_inner_iter, "max_inner_iter", min_value=1)
        self._n_threads = effective_n_threads(self.n_threads)
        self._n_components = n_components
        self._batch_size = min(int(self.batch_size), X.shape[0])
        self._rho = float(self.forget_factor) ** (self._batch_size / X.shape[0])
        beta = self._beta_loss
        self._gamma = 1.0 / (2.0 - beta) if beta < 1 else (
            1.0 / (beta - 1.0) if beta > 2 else 1.0)
        self._transform_max_iter = (int(self.max_iter) if self.transform_max_iter is None
                                    else int(self.transform_max_iter))
        n_features = X.shape[1]
        k = n_components if not isinstance(n_components, str) else n_features
        if self.max_inner_iter == "auto":
            # a W update costs ~k^2 per row; the two products ~2 n_features k
            self._inner = int(min(_MAX_INNER_CAP,
                                  1 + _INNER_ALPHA * 2 * n_features / max(k, 1)))
        else:
            self._inner = int(self.max_inner_iter)
        return self

    def _regularization(self, X):
        n_samples, n_features = X.shape
        alpha_W = float(self.alpha_W)
        alpha_H = alpha_W if isinstance(self.alpha_H, str) else float(self.alpha_H)
        l1 = float(self.l1_ratio)
        return (n_features * alpha_W * l1, n_samples * alpha_H * l1,
                n_features * alpha_W * (1 - l1), n_samples * alpha_H * (1 - l1))

    def _initial_factors(self, X, W, H):
        n_samples, n_features = X.shape
        k = self._n_components
        if self.init == "custom":
            H = check_init_factor(H, (k, n_features), "H", X.dtype, "MiniBatchNMF")
            if k == "auto":
                self._n_components = k = H.shape[0]
            W = check_init_factor(W, (n_samples, k), "W", X.dtype, "MiniBatchNMF")
            return W.copy(), H.copy()
        if W is not None or H is not None:
            warnings.warn("When init!='custom', provided W or H are ignored. Set "
                          "init='custom' to use them as initialization.", RuntimeWarning)
        if k == "auto":
            self._n_components = k = n_features
        return initialize_nmf(X, k, init=self.init, random_state=self.random_state)

    # -- the W solve and one step -------------------------------------------
    def _update_W(self, data, W, Ht, l1, l2, zero_below, products=None):
        """One multiplicative update of W (in place); returns reusable products."""
        beta = self._beta_loss
        if beta == 2:
            if products is None:
                products = (data.dot(Ht), Ht.T @ Ht)
            XHt, HHt = products
            kernels.mu_update(W, XHt, W @ HHt, l1, l2, self._gamma, zero_below,
                              n_threads=self._threads_for(W.size))
            return products
        num, den = _mu_W_terms(data, W, Ht, beta)
        kernels.mu_update(W, num, den, l1, l2, self._gamma, zero_below,
                          n_threads=self._threads_for(W.size))
        return None

    def _threads_for(self, size):
        # a parallel region costs more than it saves on a batch-sized factor,
        # and far more when the cores are shared
        return 1 if size < MIN_PARALLEL_SIZE else self._n_threads

    def _data(self, X, sq_norm=None):
        if self._beta_loss == 2:
            return _FrobeniusData(X, self._n_threads, sq_norm)
        return NMFData(X, self._n_threads)

    def _solve_W(self, X, Ht, max_iter):
        """W for X with H fixed: ``max_iter`` updates from a flat start (transform)."""
        k = Ht.shape[1]
        mean = float(X.sum(dtype=np.float64)) / (X.shape[0] * X.shape[1])
        W = np.full((X.shape[0], k), np.sqrt(mean / k), dtype=X.dtype)
        W_buffer = W.copy()
        l1_W, _, l2_W, _ = self._regularization(X)
        data = self._data(X)
        products = None
        tol = float(self.tol)
        for _ in range(max_iter):
            products = self._update_W(data, W, Ht, l1_W, l2_W, 0.0, products)
            norm_W = np.linalg.norm(W)
            W_diff = np.linalg.norm(W - W_buffer) / norm_W if norm_W else 0.0
            if tol > 0 and W_diff <= tol:
                break
            W_buffer[:] = W
        return W

    def _minibatch_step(self, X, W, Ht, update_H, sq_norm=None):
        """Update W (rows of this batch, in place) and H; returns the mean batch cost."""
        beta = self._beta_loss
        n_batch = X.shape[0]
        l1_W, l1_H, l2_W, l2_H = self._regularization(X)
        data = self._data(X, sq_norm)
        products = None
        if self.fresh_restarts or W is None:
            W = self._solve_W(X, Ht, int(self.fresh_restarts_max_iter))
            if beta < 1:
                W[W < _FLOAT64_EPS] = 0.0
        else:
            zero = _FLOAT64_EPS if beta < 1 else 0.0
            products = self._update_W(data, W, Ht, l1_W, l2_W, zero)
            for _ in range(self._inner - 1 if beta == 2 else 0):
                self._update_W(data, W, Ht, l1_W, l2_W, zero, products)
        WtW = W.T @ W
        XtW = None
        if beta == 2:
            # 0.5 ||X - W H||^2 = 0.5 (||X||^2 - 2 <X H^T, W> + <W^T W, H H^T>)
            if products is None:
                products = (data.dot(Ht), Ht.T @ Ht)
            XHt, HHt = products
            cross = float(np.vdot(XHt.astype(np.float64, copy=False),
                                  W.astype(np.float64, copy=False)))
            loss = data.sq_norm - 2.0 * cross + float(np.vdot(WtW.astype(np.float64),
                                                              HHt.astype(np.float64)))
            loss = max(loss, 0.0) / 2.0
        else:
            loss = beta_divergence(data, W, Ht, beta)
        H_sum = float(Ht.sum(dtype=np.float64))
        batch_cost = (loss + l1_W * float(W.sum(dtype=np.float64)) + l1_H * H_sum
                      + l2_W * float(np.vdot(W, W)) + l2_H * float(np.vdot(Ht, Ht))) / n_batch
        if update_H:
            if beta == 2:
                XtW = data.tdot(W)
                num, den = XtW, Ht @ WtW
            else:
                num, den = _mu_H_terms(data, W, Ht, beta)
            self._online_H_update(Ht, num, den, l1_H, l2_H)
        return batch_cost, W

    def _online_H_update(self, Ht, num, den, l1, l2):
        """Discounted running sums of the update's terms; Ht replaced in place."""
        den = np.array(den, dtype=Ht.dtype, copy=True)
        if den.shape != Ht.shape:
            den = np.broadcast_to(den, Ht.shape).copy()
        if l1 > 0:
            den += l1
        if l2 > 0:
            den += l2 * Ht
        den[den == 0] = EPSILON
        gamma = self._gamma
        H_scaled = Ht ** (1.0 / gamma) if gamma != 1 else Ht
        A, B, rho = self._numerator_t, self._denominator_t, self._rho
        A *= rho
        B *= rho
        A += num * H_scaled
        B += den
        np.divide(A, B, out=Ht)
        if gamma != 1:
            Ht **= gamma
        if self._beta_loss <= 1:
            Ht[Ht < _FLOAT64_EPS] = 0.0

    def _converged(self, batch_cost, Ht, Ht_buffer, n_samples, n_batch, step, n_steps):
        step += 1
        if step == 1:  # H has not moved yet
            if self.verbose:
                print(f"Minibatch step {step}/{n_steps}: mean batch cost: {batch_cost}")
            return False
        if self._ewa_cost is None:
            self._ewa_cost = batch_cost
        else:
            alpha = min(n_batch / (n_samples + 1), 1.0)
            self._ewa_cost = self._ewa_cost * (1 - alpha) + batch_cost * alpha
        if self.verbose:
            print(f"Minibatch step {step}/{n_steps}: mean batch cost: {batch_cost}, "
                  f"ewa cost: {self._ewa_cost}")
        norm_H = np.linalg.norm(Ht)
        H_diff = np.linalg.norm(Ht - Ht_buffer) / norm_H if norm_H else 0.0
        if self.tol > 0 and H_diff <= self.tol:
            if self.verbose:
                print(f"Converged (small H change) at step {step}/{n_steps}")
            return True
        if self._ewa_cost_min is None or self._ewa_cost < self._ewa_cost_min:
            self._no_improvement = 0
            self._ewa_cost_min = self._ewa_cost
        else:
            self._no_improvement += 1
        if self.max_no_improvement is not None and \
                self._no_improvement >= self.max_no_improvement:
            if self.verbose:
                print("Converged (lack of improvement in objective function) at step "
                      f"{step}/{n_steps}")
            return True
        return False

    # -- public API ---------------------------------------------------------
    def _validate_X(self, X, reset):
        X = validate_data(self, X, reset=reset, accept_sparse=True, ensure_non_negative=True)
        return X

    def _check_beta_zeros(self, X):
        values = X.data if sp.issparse(X) else X
        if self._beta_loss <= 0 and (values.size < X.shape[0] * X.shape[1]
                                     or values.min() == 0):
            raise ValueError(
                f"beta_loss={self.beta_loss!r} (<= 0) is undefined where X is zero and X "
                "contains zeros: add a small positive value to X or use a positive "
                "beta_loss."
            )

    def fit_transform(self, X, y=None, W=None, H=None):
        """Learn the factorization of X by mini-batches and return W.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative data; a memory-mapped array is read one batch at a time.
        y : Ignored
        W, H : array-like, optional
            Initial factors for ``init='custom'``.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
        """
        X = self._validate_X(X, reset=True)
        self._check_params(X)
        self._check_beta_zeros(X)
        n_samples = X.shape[0]
        W, H = self._initial_factors(X, W, H)
        W = np.ascontiguousarray(W, dtype=X.dtype)
        Ht = np.ascontiguousarray(H.T, dtype=X.dtype)
        Ht_buffer = Ht.copy()
        self._numerator_t = Ht.copy()
        self._denominator_t = np.ones_like(Ht)
        self._ewa_cost = self._ewa_cost_min = None
        self._no_improvement = 0
        batches = _batches(n_samples, self._batch_size)
        n_steps_per_iter = len(batches)
        n_steps = int(self.max_iter) * n_steps_per_iter
        row_sq = _row_sq_norms(X) if self._beta_loss == 2 else None
        step = 0
        for step in range(n_steps):
            batch = batches[step % n_steps_per_iter]
            batch_sq = float(row_sq[batch].sum()) if row_sq is not None else None
            batch_cost, W_b = self._minibatch_step(X[batch], W[batch], Ht, True, batch_sq)
            if self.fresh_restarts:
                W[batch] = W_b
            if self._converged(batch_cost, Ht, Ht_buffer, n_samples, W_b.shape[0], step,
                               n_steps):
                break
            Ht_buffer[:] = Ht
        if self.fresh_restarts:
            W = self._solve_W(X, Ht, self._transform_max_iter)
        n_steps = step + 1
        n_iter = int(np.ceil(n_steps / n_steps_per_iter))
        if n_iter == self.max_iter and self.tol > 0:
            warnings.warn(f"Maximum number of iterations {self.max_iter} reached. Increase "
                          "it to improve convergence.", ConvergenceWarning)
        H = np.ascontiguousarray(Ht.T)
        if self._beta_loss == 2:
            # Gram identity: one product with X, no n_samples x n_features array
            data = _FrobeniusData(X, self._n_threads, float(row_sq.sum()))
            XHt = data.dot(Ht).astype(np.float64, copy=False)
            W64, Ht64 = W.astype(np.float64), Ht.astype(np.float64)
            loss = max(data.sq_norm - 2.0 * float(np.vdot(XHt, W64))
                       + float(np.vdot(W64.T @ W64, Ht64.T @ Ht64)), 0.0) / 2.0
        else:
            loss = beta_divergence(NMFData(X, self._n_threads), W, Ht, self._beta_loss)
        self.reconstruction_err_ = float(np.sqrt(2 * loss))
        self.n_components_ = H.shape[0]
        self.components_ = H
        self.n_iter_ = n_iter
        self.n_steps_ = n_steps
        return W

    def fit(self, X, y=None, **params):
        """Learn the factorization of X by mini-batches.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored
        **params
            ``W`` and ``H`` for ``init='custom'``.

        Returns
        -------
        self
        """
        self.fit_transform(X, **params)
        return self

    def partial_fit(self, X, y=None, W=None, H=None):
        """Update the model with one chunk of rows (streamed / out-of-core fitting).

        The first call initialises H from this chunk (or from W/H with
        ``init='custom'``); every call is one mini-batch step on the chunk.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored
        W, H : array-like, optional
            Initial factors for ``init='custom'`` (first call only).

        Returns
        -------
        self
        """
        first = not hasattr(self, "components_")
        X = self._validate_X(X, reset=first)
        if first:
            self._check_params(X)
            _, H = self._initial_factors(X, W, H)
            Ht = np.ascontiguousarray(H.T, dtype=X.dtype)
            self._numerator_t = Ht.copy()
            self._denominator_t = np.ones_like(Ht)
            self.n_steps_ = 0
        else:
            Ht = np.ascontiguousarray(self.components_.T, dtype=X.dtype)
            self._numerator_t = self._numerator_t.astype(X.dtype, copy=False)
            self._denominator_t = self._denominator_t.astype(X.dtype, copy=False)
        self._check_beta_zeros(X)
        self._minibatch_step(X, None, Ht, True)
        self.components_ = np.ascontiguousarray(Ht.T)
        self.n_components_ = self.components_.shape[0]
        self.n_steps_ += 1
        return self

    def transform(self, X):
        """Codes W of X with the learned components fixed.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self, "components_")
        X = self._validate_X(X, reset=False)
        Ht = np.ascontiguousarray(self.components_.T, dtype=X.dtype)
        return self._solve_W(X, Ht, self._transform_max_iter)

    def inverse_transform(self, X):
        """Map codes back to data space: ``X @ components_``.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_components)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self, "components_")
        W = check_array(X, name="X", accept_sparse=True, whom="MiniBatchNMF.inverse_transform")
        if W.shape[1] != self.n_components_:
            raise ValueError(f"X has {W.shape[1]} columns, but MiniBatchNMF has "
                             f"{self.n_components_} components.")
        return np.asarray(W @ self.components_.astype(W.dtype, copy=False))

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _update_tags(self, tags):
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
