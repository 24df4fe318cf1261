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
``max_inner_iter=1`` gives exactly scikit-learn's iterates, and so does
'auto' when one batch holds every row and ``forget_factor=0``: that fit is
``NMF(solver='mu')`` step for step, as scikit-learn guarantees.

As in scikit-learn, custom initial factors are the fit's own buffers: with
``init='custom'`` the caller's H (and W, unless ``fresh_restarts``) is
updated in place and returned / kept as ``components_``, and
``partial_fit`` updates ``components_`` in place.

Data can be a memory-mapped array (only one batch of rows is touched at a
time) or a stream of chunks fed to :meth:`MiniBatchNMF.partial_fit`.
"""
import warnings

import numpy as np
import scipy.sparse as sp

from .. import kernels
from .._base import BaseEstimator, TransformerMixin
from .._utils.minibatch import no_improvement_stop, update_ewa_cost
from .._utils.threads import threads_for_size
from .._utils.validation import check_float, check_int, check_option
from ._data import EPSILON, NMFData
from ._estimator import NMFEstimatorMixin
from ._init import INIT_METHODS, initialize_nmf
from ._losses import beta_divergence, beta_loss_to_float, frobenius_loss, gram64
from ._solvers import (
    INNER_ALPHA,
    check_penalties,
    mu_gamma,
    mu_H_terms,
    mu_W_terms,
    mu_zero_floors,
    scaled_penalties,
    warn_if_max_iter,
)
from ._validation import check_beta_zeros, check_custom_factors, has_zero

__all__ = ["MiniBatchNMF"]

# 'auto' inner W updates per step (Frobenius): as many as cost about half of
# the step's two big products, capped.
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


def _into(target, result):
    """``result`` written into ``target`` when it can hold it, else ``result`` (C-contiguous).

    scikit-learn updates a caller's custom factors and its own
    ``components_`` in place, and code relies on that aliasing (a
    ``components_`` that is the caller's H); a read-only target, or one of
    another dtype or shape, gets the new array instead.
    """
    if (isinstance(target, np.ndarray) and target is not result and target.flags.writeable
            and target.dtype == result.dtype and target.shape == result.shape):
        target[...] = result
        return target
    return np.ascontiguousarray(result)


def _batches(n_samples, batch_size):
    """Row slices of at most ``batch_size`` rows covering ``range(n_samples)``."""
    return [slice(start, min(start + batch_size, n_samples))
            for start in range(0, n_samples, batch_size)]


class MiniBatchNMF(NMFEstimatorMixin, TransformerMixin, BaseEstimator):
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
        only); 1 reproduces scikit-learn's iterates. 'auto' takes as many
        as cost about half of the step's products, except when one batch
        holds every row and ``forget_factor=0``: then 1, so that the fit is
        ``NMF(solver='mu')``'s, as in scikit-learn.
    n_threads : int or None, default=None
        Threads for the compiled kernels (None follows OpenMP).
    n_jobs : int or None, default=None
        Alias of n_threads (scikit-learn's name).

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
                 random_state=None, verbose=0, max_inner_iter="auto", n_threads=None,
                 n_jobs=None):
        self._store_init_arguments(locals())

    # -- parameters -------------------------------------------------------
    def _check_params(self, X):
        n_components = self._check_n_components(X)
        if self.init is not None:
            check_option(self.init, "init", INIT_METHODS)
        self._beta_loss = beta_loss_to_float(self.beta_loss)
        check_float(self.tol, "tol", min_value=0.0)
        check_int(self.max_iter, "max_iter", min_value=1)
        check_int(self.max_no_improvement, "max_no_improvement", min_value=1, allow_none=True)
        check_int(self.batch_size, "batch_size", min_value=1)
        check_float(self.forget_factor, "forget_factor", min_value=0.0, max_value=1.0)
        check_penalties(self.alpha_W, self.alpha_H, self.l1_ratio)
        if not isinstance(self.fresh_restarts, (bool, np.bool_)):
            raise TypeError(f"fresh_restarts must be a bool, got {self.fresh_restarts!r}.")
        check_int(self.fresh_restarts_max_iter, "fresh_restarts_max_iter", min_value=1)
        check_int(self.transform_max_iter, "transform_max_iter", min_value=1, allow_none=True)
        check_int(int(self.verbose) if isinstance(self.verbose, bool) else self.verbose,
                  "verbose", min_value=0)
        if not (isinstance(self.max_inner_iter, str) and self.max_inner_iter == "auto"):
            check_int(self.max_inner_iter, "max_inner_iter", min_value=1)
        self._n_threads = self._effective_n_threads()
        self._n_components = n_components
        self._batch_size = min(int(self.batch_size), X.shape[0])
        self._rho = float(self.forget_factor) ** (self._batch_size / X.shape[0])
        self._gamma = mu_gamma(self._beta_loss)
        self._transform_max_iter = (int(self.max_iter) if self.transform_max_iter is None
                                    else int(self.transform_max_iter))
        n_features = X.shape[1]
        k = n_components if not isinstance(n_components, str) else n_features
        if self.max_inner_iter == "auto":
            if self._batch_size == X.shape[0] and self._rho == 0:
                # every row in one batch, nothing remembered: this is NMF(solver='mu')
                # step for step (scikit-learn guarantees it), so keep its single update
                self._inner = 1
            else:
                # a W update costs ~k^2 per row; the two products ~2 n_features k
                self._inner = int(min(_MAX_INNER_CAP,
                                      1 + INNER_ALPHA * 2 * n_features / max(k, 1)))
        else:
            self._inner = int(self.max_inner_iter)
        return self

    def _regularization(self, X):
        """``(l1_W, l1_H, l2_W, l2_H)`` for data of X's shape."""
        return scaled_penalties(self.alpha_W, self.alpha_H, self.l1_ratio, X.shape)

    def _initial_factors(self, X, W, H):
        """The starting W and H; custom ones are the caller's arrays (updated in place)."""
        n_samples, n_features = X.shape
        k = self._n_components
        if self.init == "custom":
            W, H = check_custom_factors(W, H, n_samples, n_features, k, X.dtype)
            self._n_components = H.shape[0]
            return W, H
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
        num, den = mu_W_terms(data, W, Ht, beta)
        kernels.mu_update(W, num, den, l1, l2, self._gamma, zero_below,
                          n_threads=self._threads_for(W.size))
        return None

    def _threads_for(self, size):
        # a parallel region costs more than it saves on a batch-sized factor,
        # and far more when the cores are shared
        return threads_for_size(size, self._n_threads)

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
        zero_W, _ = mu_zero_floors(beta)
        if self.fresh_restarts or W is None:
            W = self._solve_W(X, Ht, int(self.fresh_restarts_max_iter))
            if zero_W:
                W[W < zero_W] = 0.0
        else:
            products = self._update_W(data, W, Ht, l1_W, l2_W, zero_W)
            for _ in range(self._inner - 1 if beta == 2 else 0):
                self._update_W(data, W, Ht, l1_W, l2_W, zero_W, products)
        WtW = W.T @ W
        XtW = None
        if beta == 2:
            # 0.5 ||X - W H||^2 = 0.5 (||X||^2 - 2 <X H^T, W> + <W^T W, H H^T>)
            if products is None:
                products = (data.dot(Ht), Ht.T @ Ht)
            XHt, HHt = products
            loss = frobenius_loss(data.sq_norm, XHt, W, WtW, HHt)
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
                num, den = mu_H_terms(data, W, Ht, beta)
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
        _, zero_H = mu_zero_floors(self._beta_loss)
        if zero_H:
            Ht[Ht < zero_H] = 0.0

    def _converged(self, batch_cost, Ht, Ht_buffer, n_samples, n_batch, step, n_steps):
        step += 1
        if step == 1:  # H has not moved yet
            if self.verbose:
                print(f"Minibatch step {step}/{n_steps}: mean batch cost: {batch_cost}")
            return False
        update_ewa_cost(self, batch_cost, n_batch, n_samples)
        if self.verbose:
            print(f"Minibatch step {step}/{n_steps}: mean batch cost: {batch_cost}, "
                  f"ewa cost: {self._ewa_cost}")
        norm_H = np.linalg.norm(Ht)
        H_diff = np.linalg.norm(Ht - Ht_buffer) / norm_H if norm_H else 0.0
        if self.tol > 0 and H_diff <= self.tol:
            if self.verbose:
                print(f"Converged (small H change) at step {step}/{n_steps}")
            return True
        if no_improvement_stop(self):
            if self.verbose:
                print("Converged (lack of improvement in objective function) at step "
                      f"{step}/{n_steps}")
            return True
        return False

    # -- public API ---------------------------------------------------------
    def _check_beta_zeros(self, X):
        check_beta_zeros(self._beta_loss, self.beta_loss, lambda: has_zero(X))

    def fit_transform(self, X, y=None, W=None, H=None):
        """Learn the factorization of X by mini-batches and return W.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative data; a memory-mapped array is read one batch at a time.
        y : Ignored
        W, H : array-like, optional
            Initial factors for ``init='custom'``. As in scikit-learn, a
            writeable ndarray H is updated in place and becomes
            ``components_``, and so is W (returned) unless ``fresh_restarts``.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
        """
        X = self._validate_X(X, reset=True)
        self._check_params(X)
        self._check_beta_zeros(X)
        n_samples = X.shape[0]
        W_given, H_given = (W, H) if self.init == "custom" else (None, None)
        W, H = self._initial_factors(X, W, H)
        W = np.ascontiguousarray(W, dtype=X.dtype)
        if not W.flags.writeable:  # a read-only custom W: the fit updates a copy
            W = W.copy()
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
            if self._converged(batch_cost, Ht, Ht_buffer, n_samples, W_b.shape[0], step,
                               n_steps):
                break
            Ht_buffer[:] = Ht
        if self.fresh_restarts:  # W's rows were never used: solved afresh here
            W = self._solve_W(X, Ht, self._transform_max_iter)
        else:
            W = _into(W_given, W)
        n_steps = step + 1
        n_iter = int(np.ceil(n_steps / n_steps_per_iter))
        warn_if_max_iter(n_iter, self.max_iter, self.tol)
        H = _into(H_given, Ht.T)
        if self._beta_loss == 2:
            # Gram identity: one product with X, no n_samples x n_features array
            data = _FrobeniusData(X, self._n_threads, float(row_sq.sum()))
            loss = frobenius_loss(data.sq_norm, data.dot(Ht), W, gram64(W), gram64(Ht))
        else:
            loss = beta_divergence(NMFData(X, self._n_threads), W, Ht, self._beta_loss)
        self.reconstruction_err_ = float(np.sqrt(2 * loss))
        self.n_components_ = H.shape[0]
        self.components_ = H
        self.n_iter_ = n_iter
        self.n_steps_ = n_steps
        return W

    def partial_fit(self, X, y=None, W=None, H=None):
        """Update the model with one chunk of rows (streamed / out-of-core fitting).

        The first call initialises H from this chunk (or from W/H with
        ``init='custom'``); every call is one mini-batch step on the chunk.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored
        W, H : array-like, optional
            Initial factors for ``init='custom'`` (first call only). As in
            scikit-learn, a writeable ndarray H becomes ``components_``, which
            every call updates in place.

        Returns
        -------
        self
        """
        first = not hasattr(self, "components_")
        X = self._validate_X(X, reset=first)
        if first:
            self._check_params(X)
            target = H if self.init == "custom" else None
            _, H = self._initial_factors(X, W, H)
            Ht = np.ascontiguousarray(H.T, dtype=X.dtype)
            self._numerator_t = Ht.copy()
            self._denominator_t = np.ones_like(Ht)
            self.n_steps_ = 0
        else:
            target = self.components_
            Ht = np.ascontiguousarray(target.T, dtype=X.dtype)
            self._numerator_t = self._numerator_t.astype(X.dtype, copy=False)
            self._denominator_t = self._denominator_t.astype(X.dtype, copy=False)
        self._check_beta_zeros(X)
        self._minibatch_step(X, None, Ht, True)
        self.components_ = _into(target, Ht.T)
        self.n_components_ = self.components_.shape[0]
        self.n_steps_ += 1
        return self

    def _transform(self, X):
        """W for a validated X: ``transform_max_iter`` updates with H fixed."""
        Ht = np.ascontiguousarray(self.components_.T, dtype=X.dtype)
        return self._solve_W(X, Ht, self._transform_max_iter)
