"""Non-negative matrix factorization: X ~ W H with W, H >= 0.

The estimator mirrors scikit-learn's ``NMF`` (same parameters, defaults,
methods and fitted attributes). The solvers below do the BLAS-3 products in
numpy and hand the per-entry and per-row work to :mod:`fastfactor.kernels`.

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
import numbers
import time
import warnings

import numpy as np
import scipy.sparse as sp

from .. import kernels
from ..exceptions import ConvergenceWarning
from .._base import BaseEstimator, TransformerMixin, check_is_fitted
from .._utils.dask import is_dask_array
from ..checkpoint import encode_rng_state, require_values, restore_rng
from ._data import EPSILON, NMFData
from ._init import INIT_METHODS, initialize_nmf
from .._utils.threads import effective_n_threads, single_threaded_blas
from .._utils.validation import (
    check_array,
    check_float,
    check_init_factor,
    check_int,
    check_option,
    check_random_state,
    validate_data,
)

__all__ = ["NMF", "non_negative_factorization"]

_BETA_NAMES = {"frobenius": 2.0, "kullback-leibler": 1.0, "itakura-saito": 0.0}
_FLOAT64_EPS = np.finfo(np.float64).eps
# Accelerated HALS: inner sweeps allowed per outer iteration are
# 1 + _INNER_ALPHA * (cost of the products / cost of one sweep), and a row
# stops once a sweep moves it by less than _INNER_DELTA of the first sweep
# (Gillis & Glineur 2012 use alpha=0.5, delta=0.1).
_INNER_ALPHA = 0.5
_INNER_DELTA = 0.1
_MAX_INNER_CAP = 100
# The costs are compared in time, not in flops: a coordinate sweep is a chain
# of dependent scalar updates and runs about this many times slower per flop
# than the products' GEMMs. Counting flops alone allowed 64 sweeps on
# nmf-dense, 7.6x the time of the products; this factor (the best of 1, 5,
# 10, 20 and 40 on nmf-dense's time to scikit-learn's 100-iteration loss)
# allows 7, and reaches that loss sooner in all although it needs more
# iterations. An outer iteration also has a fixed cost (Python, thread
# wake-ups) worth about _ITERATION_FLOPS of GEMM, which on small problems
# outweighs the products.
_SWEEP_FLOP_COST = 10
_ITERATION_FLOPS = 1e6


def beta_loss_to_float(beta_loss):
    """Map 'frobenius'/'kullback-leibler'/'itakura-saito' or a number to a float beta."""
    if isinstance(beta_loss, str):
        if beta_loss not in _BETA_NAMES:
            raise ValueError(
                f"beta_loss must be one of {list(_BETA_NAMES)} or a float, got {beta_loss!r}."
            )
        return _BETA_NAMES[beta_loss]
    if isinstance(beta_loss, bool) or not isinstance(beta_loss, numbers.Real):
        raise TypeError(f"beta_loss must be a string or a float, got {beta_loss!r}.")
    beta = float(beta_loss)
    if not np.isfinite(beta):
        raise ValueError(f"beta_loss must be finite, got {beta_loss!r}.")
    return beta


# --------------------------------------------------------------------------- losses

def frobenius_from_gram(sq_norm_X, cross, WtW, HHt):
    """0.5 * ||X - W H||_F^2 from ``<W H, X>`` and the two Gram matrices.

    ``||X - WH||^2 = ||X||^2 - 2 <X, WH> + <W^T W, H H^T>``: no m x n product.
    """
    value = sq_norm_X - 2.0 * cross + float(np.vdot(WtW.astype(np.float64),
                                                     HHt.astype(np.float64)))
    return max(value, 0.0) / 2.0


def beta_divergence(data, W, Ht, beta):
    """Exact beta-divergence of X and W @ Ht.T (scikit-learn's convention).

    For beta == 2 it is ``0.5 * ||X - WH||_F^2``. Dense X and the general
    beta are computed over tiles of rows, so no m x n array is formed.
    """
    H = Ht.T
    if data.sparse and beta in (1.0, 2.0):
        wh = data.sampled_dot(W, Ht).astype(np.float64)
        x = data.X.data.astype(np.float64)
        if beta == 2:
            W64, Ht64 = W.astype(np.float64), Ht.astype(np.float64)
            return frobenius_from_gram(data.sq_norm, float(x @ wh), W64.T @ W64, Ht64.T @ Ht64)
        keep = x > EPSILON
        x, wh = x[keep], np.maximum(wh[keep], EPSILON)
        sum_wh = float(W.sum(axis=0, dtype=np.float64) @ H.sum(axis=1, dtype=np.float64))
        return float(x @ np.log(x / wh)) - float(x.sum()) + sum_wh
    total = 0.0
    H = np.ascontiguousarray(H)
    for rows, X_tile in data.row_tiles():
        WH = kernels.dense_matmul(W[rows], H, n_threads=data.n_threads)
        if beta == 2:
            diff = (X_tile - WH).ravel()
            total += float(np.dot(diff, diff)) / 2.0
        else:
            total += kernels.beta_divergence_dense(X_tile, WH, beta, n_threads=data.n_threads)
    return total


# ---------------------------------------------------------------------- HALS (cd)

def _gram(F, n_threads):
    """F.T @ F on the OpenMP threads (a fit keeps BLAS itself on one thread)."""
    return kernels.dense_matmul(F, F, trans_a=True, n_threads=n_threads)


def _inner_sweeps(n_cols, k, product_cost):
    """Accelerated-HALS sweep budget for a factor with rows of length k."""
    sweep_cost = max(_SWEEP_FLOP_COST * n_cols * k * k, 1)
    rho = 1.0 + (product_cost + _ITERATION_FLOPS) / sweep_cost
    return int(min(_MAX_INNER_CAP, 1 + _INNER_ALPHA * rho))


def _regularized(product, gram, l1_reg, l2_reg):
    """Fold L1/L2 penalties into the HALS inputs (copies when they apply)."""
    if l1_reg:
        product = product - l1_reg
    if l2_reg:
        gram = gram.copy()
        gram.flat[:: gram.shape[0] + 1] += l2_reg
    return product, gram


def fit_hals(data, W, Ht, *, tol, max_iter, l1_reg_W, l1_reg_H, l2_reg_W, l2_reg_H,
             update_H, verbose, shuffle, random_state, max_inner_iter, n_threads,
             callback=None, resume=None):
    """HALS / coordinate descent; W (m, k) and Ht (n, k) are updated in place.

    Returns the number of iterations and the loss after each one (Frobenius,
    0.5 * squared, computed from Gram matrices at no extra product).

    ``callback(state)``, if given, is called after every iteration that does
    not end the fit with the complete solver state (a dict); passing such a
    state back as ``resume`` (with its W and Ht) continues the fit exactly
    where it stopped.
    """
    m, n = data.shape
    k = W.shape[1]
    rng = check_random_state(random_state)
    first_iter, violation_init, losses = 1, None, []
    if resume is not None:
        require_values(resume, ("n_iter", "violation_init", "losses", "rng_state"), "NMF cd")
        rng = restore_rng(resume["rng_state"])
        first_iter = int(resume["n_iter"]) + 1
        violation_init = resume["violation_init"]
        losses = list(resume["losses"])
    nnz = data.X.nnz if data.sparse else m * n
    if max_inner_iter == "auto":
        inner_W = _inner_sweeps(m, k, 2 * nnz * k + n * k * k)
        inner_H = _inner_sweeps(n, k, 2 * nnz * k + m * k * k)
    else:
        inner_W = inner_H = max_inner_iter
    inner_tol = _INNER_DELTA ** 2
    HHt = _gram(Ht, n_threads)
    XHt = data.dot(Ht)
    XHt_reg, HHt_reg = _regularized(XHt, HHt, l1_reg_W, l2_reg_W)
    n_iter = first_iter - 1
    for n_iter in range(first_iter, max_iter + 1):
        if update_H and n_iter > first_iter:
            XHt = data.dot(Ht)
            XHt_reg, HHt_reg = _regularized(XHt, HHt, l1_reg_W, l2_reg_W)
        perm = rng.permutation(k) if shuffle else None
        violation = kernels.hals_update(W, XHt_reg, HHt_reg, perm, inner_W, inner_tol,
                                        n_threads=n_threads)
        if update_H:
            XtW = data.tdot(W)
            WtW = _gram(W, n_threads)
            XtW_reg, WtW_reg = _regularized(XtW, WtW, l1_reg_H, l2_reg_H)
            perm = rng.permutation(k) if shuffle else None
            violation += kernels.hals_update(Ht, XtW_reg, WtW_reg, perm, inner_H, inner_tol,
                                             n_threads=n_threads)
            HHt = _gram(Ht, n_threads)
            cross = float(np.vdot(Ht.astype(np.float64, copy=False),
                                  XtW.astype(np.float64, copy=False)))
            losses.append(frobenius_from_gram(data.sq_norm, cross, WtW, HHt))
        if n_iter == 1:
            violation_init = violation
        if violation_init == 0:
            break
        if verbose:
            print(f"iteration {n_iter:4d}  violation: {violation / violation_init:.3e}"
                  + (f"  loss: {losses[-1]:.6e}" if losses else ""))
        if violation / violation_init <= tol:
            if verbose:
                print("Converged at iteration", n_iter)
            break
        if callback is not None:
            callback(dict(n_iter=n_iter, W=W, Ht=Ht, losses=losses,
                          violation_init=violation_init,
                          rng_state=encode_rng_state(rng)))
    return n_iter, losses


# ---------------------------------------------------------------- multiplicative

def _mu_gamma(beta):
    # exponent of the majorization-minimization update (Fevotte & Idier 2011)
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


def _beta_products(data, W, Ht, beta, for_H):
    """kernels.mu_beta_products over X; a sparse X goes densified tile by tile."""
    if not data.sparse:
        return kernels.mu_beta_products(data.X, W, Ht, beta, for_H=for_H,
                                        n_threads=data.n_threads)
    shape = Ht.shape if for_H else W.shape
    numerator = np.zeros(shape, dtype=W.dtype)
    denominator = np.zeros(shape, dtype=W.dtype) if beta != 1 else None
    for rows, X_tile in data.row_tiles():
        num, den = kernels.mu_beta_products(X_tile, W[rows], Ht, beta, for_H=for_H,
                                            n_threads=data.n_threads)
        parts = (numerator, num), (denominator, den)
        for total, part in parts[: 1 if den is None else 2]:
            if for_H:
                total += part  # H's terms sum over all rows of X
            else:
                total[rows] = part
    return numerator, denominator


def _kl_ratio_values(data, W, Ht):
    """X / WH at the stored entries of a sparse X (the KL numerator terms)."""
    return data.X.data / np.maximum(data.sampled_dot(W, Ht), EPSILON)


def _mu_W_terms(data, W, Ht, beta):
    """Numerator and denominator of the W update for beta != 2."""
    if data.sparse and beta == 1:
        numerator = kernels.csr_matmul(data.with_values(_kl_ratio_values(data, W, Ht)), Ht,
                                       n_threads=data.n_threads)
        return numerator, Ht.sum(axis=0).reshape(1, -1)
    numerator, denominator = _beta_products(data, W, Ht, beta, for_H=False)
    if denominator is None:
        denominator = Ht.sum(axis=0).reshape(1, -1)
    return numerator, denominator


def _mu_H_terms(data, W, Ht, beta):
    """Numerator and denominator of the (transposed) H update for beta != 2."""
    W_sum = W.sum(axis=0)
    W_sum[W_sum == 0] = 1.0  # as scikit-learn: a dead component keeps its H row
    if data.sparse and beta == 1:
        return data.tdot_values(_kl_ratio_values(data, W, Ht), W), W_sum.reshape(1, -1)
    numerator, denominator = _beta_products(data, W, Ht, beta, for_H=True)
    if denominator is None:
        denominator = W_sum.reshape(1, -1)
    return numerator, denominator


def fit_multiplicative(data, W, Ht, *, beta, tol, max_iter, l1_reg_W, l1_reg_H, l2_reg_W,
                       l2_reg_H, update_H, verbose, n_threads, callback=None, resume=None):
    """Multiplicative updates; W (m, k) and Ht (n, k) are updated in place.

    Convergence is tested every 10 iterations on the relative decrease of
    the loss, as scikit-learn does. Returns the number of iterations and
    the losses seen at those tests. ``callback`` and ``resume`` work as in
    :func:`fit_hals`.
    """
    gamma = _mu_gamma(beta)
    zero_W = _FLOAT64_EPS if beta < 1 else 0.0
    zero_H = _FLOAT64_EPS if beta <= 1 else 0.0
    start = time.perf_counter()
    if resume is None:
        first_iter, losses = 1, []
        error_at_init = np.sqrt(2 * beta_divergence(data, W, Ht, beta))
        previous_error = error_at_init
    else:
        require_values(resume, ("n_iter", "losses", "error_at_init", "previous_error"),
                       "NMF mu")
        first_iter, losses = int(resume["n_iter"]) + 1, list(resume["losses"])
        error_at_init, previous_error = resume["error_at_init"], resume["previous_error"]
    HHt = XHt = None
    n_iter = first_iter - 1
    for n_iter in range(first_iter, max_iter + 1):
        if beta == 2:
            if HHt is None:
                HHt = _gram(Ht, n_threads)
            if XHt is None:
                XHt = data.dot(Ht)
            numerator = XHt
            denominator = kernels.dense_matmul(W, HHt, n_threads=n_threads)
        else:
            numerator, denominator = _mu_W_terms(data, W, Ht, beta)
        kernels.mu_update(W, numerator, denominator, l1_reg_W, l2_reg_W, gamma, zero_W,
                          n_threads=n_threads)
        loss = None
        if update_H:
            if beta == 2:
                WtW = _gram(W, n_threads)
                XtW = data.tdot(W)
                numerator = XtW
                denominator = kernels.dense_matmul(Ht, WtW, n_threads=n_threads)
            else:
                numerator, denominator = _mu_H_terms(data, W, Ht, beta)
            kernels.mu_update(Ht, numerator, denominator, l1_reg_H, l2_reg_H, gamma, zero_H,
                              n_threads=n_threads)
            HHt = XHt = None  # H changed
        if tol > 0 and n_iter % 10 == 0:
            if beta == 2 and update_H:
                HHt = _gram(Ht, n_threads)
                cross = float(np.vdot(Ht.astype(np.float64, copy=False),
                                      XtW.astype(np.float64, copy=False)))
                loss = frobenius_from_gram(data.sq_norm, cross, WtW, HHt)
            else:
                loss = beta_divergence(data, W, Ht, beta)
            losses.append(loss)
            error = np.sqrt(2 * loss)
            if verbose:
                print(f"Epoch {n_iter:02d} reached after {time.perf_counter() - start:.3f} "
                      f"seconds, error: {error:f}")
            if (previous_error - error) / error_at_init < tol:
                break
            previous_error = error
        if callback is not None:
            callback(dict(n_iter=n_iter, W=W, Ht=Ht, losses=losses,
                          error_at_init=float(error_at_init),
                          previous_error=float(previous_error)))
    if verbose and (tol == 0 or n_iter % 10):
        print(f"Epoch {n_iter:02d} reached after {time.perf_counter() - start:.3f} seconds.")
    return n_iter, losses


# ---------------------------------------------------------------------- estimator

class NMF(TransformerMixin, BaseEstimator):
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
                 max_inner_iter="auto", n_threads=None):
        self.n_components = n_components
        self.init = init
        self.solver = solver
        self.beta_loss = beta_loss
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.alpha_W = alpha_W
        self.alpha_H = alpha_H
        self.l1_ratio = l1_ratio
        self.verbose = verbose
        self.shuffle = shuffle
        self.max_inner_iter = max_inner_iter
        self.n_threads = n_threads

    # -- parameters -------------------------------------------------------
    def _check_params(self, X):
        """Validate hyper-parameters; returns the resolved n_components and beta."""
        n_components = self.n_components
        if n_components is None:
            n_components = X.shape[1]
        elif n_components != "auto" or not isinstance(n_components, str):
            n_components = check_int(n_components, "n_components", min_value=1)
        check_option(self.solver, "solver", ("cd", "mu"))
        if self.init is not None:
            check_option(self.init, "init", INIT_METHODS)
        beta = beta_loss_to_float(self.beta_loss)
        if self.solver != "mu" and beta != 2:
            raise ValueError(
                f"beta_loss={self.beta_loss!r} needs solver='mu'; solver={self.solver!r} "
                "handles only the Frobenius loss."
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
        check_float(self.alpha_W, "alpha_W", min_value=0.0)
        if not (isinstance(self.alpha_H, str) and self.alpha_H == "same"):
            check_float(self.alpha_H, "alpha_H", min_value=0.0)
        check_float(self.l1_ratio, "l1_ratio", min_value=0.0, max_value=1.0)
        check_int(int(self.verbose) if isinstance(self.verbose, bool) else self.verbose,
                  "verbose", min_value=0)
        if self.max_inner_iter != "auto" or not isinstance(self.max_inner_iter, str):
            check_int(self.max_inner_iter, "max_inner_iter", min_value=1)
        if not isinstance(self.shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be a bool, got {self.shuffle!r}.")
        return n_components, beta

    def _regularization(self, X):
        n_samples, n_features = X.shape
        alpha_W = float(self.alpha_W)
        alpha_H = alpha_W if isinstance(self.alpha_H, str) else float(self.alpha_H)
        l1 = float(self.l1_ratio)
        return (n_features * alpha_W * l1, n_samples * alpha_H * l1,
                n_features * alpha_W * (1 - l1), n_samples * alpha_H * (1 - l1))

    def _initial_factors(self, X, W, H, n_components, update_H):
        """Validate custom factors or compute the initialisation."""
        n_samples, n_features = X.shape
        if self.init == "custom" and update_H:
            H = check_init_factor(H, (n_components, n_features), "H", X.dtype, "NMF")
            if n_components == "auto":
                n_components = H.shape[0]
            W = check_init_factor(W, (n_samples, n_components), "W", X.dtype, "NMF")
            return W.copy(), H.copy()
        if not update_H:
            if W is not None:
                warnings.warn("When update_H=False, the provided initial W is not used.",
                              RuntimeWarning)
            H = check_init_factor(H, (n_components, n_features), "H", X.dtype, "NMF")
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
        values = X.data if sp.issparse(X) else X
        if beta <= 0 and (values.size < X.shape[0] * X.shape[1] or values.min() == 0):
            raise ValueError(
                f"beta_loss={self.beta_loss!r} (<= 0) is undefined where X is zero and "
                "X contains zeros: add a small positive value to X or use a positive "
                "beta_loss."
            )
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
        l1_W, l1_H, l2_W, l2_H = self._regularization(X)
        n_threads = effective_n_threads(self.n_threads)
        data = NMFData(X, n_threads)
        common = dict(tol=float(self.tol), max_iter=int(self.max_iter), l1_reg_W=l1_W,
                      l1_reg_H=l1_H, l2_reg_W=l2_W, l2_reg_H=l2_H, update_H=update_H,
                      verbose=self.verbose, n_threads=n_threads, callback=callback,
                      resume=resume)
        # One thread pool for the whole fit: the products are split over the
        # OpenMP threads (see NMFData), so BLAS's own threads are never woken
        # and never spin while the OpenMP kernels want the cores.
        with single_threaded_blas():
            if self.solver == "cd":
                n_iter, losses = fit_hals(data, W, Ht, shuffle=self.shuffle,
                                          random_state=self.random_state,
                                          max_inner_iter=self.max_inner_iter, **common)
            else:
                n_iter, losses = fit_multiplicative(data, W, Ht, beta=beta, **common)
        if n_iter == self.max_iter and self.tol > 0:
            warnings.warn(f"Maximum number of iterations {self.max_iter} reached. Increase "
                          "it to improve convergence.", ConvergenceWarning)
        return W, np.ascontiguousarray(Ht.T), n_iter, losses, data, beta

    def _fit_dask(self, X, W=None, H=None, callback=None, resume=None):
        """Fit on a row-chunked dask array (see :mod:`fastfactor.nmf._dask`); returns W."""
        from ._dask import DaskNMF

        n_components, beta = self._check_params(X)
        if n_components == "auto" and not (self.init == "custom" and H is not None):
            n_components = X.shape[1]
        effective_n_threads(self.n_threads)  # checked here; resolved by each worker:
        # None follows the worker's OpenMP setting (dask's nanny sets 1 thread), not ours
        dist = DaskNMF(X, self.n_threads)
        if beta <= 0 and dist.min == 0:
            raise ValueError(f"beta_loss={self.beta_loss!r} (<= 0) is undefined where X is "
                             "zero and X contains zeros.")
        self.n_features_in_ = X.shape[1]
        if resume is not None:
            W, Ht = resume["W"].copy(), resume["Ht"].copy()
        elif self.init == "custom":
            H = check_init_factor(H, (n_components, X.shape[1]), "H", dist.dtype, "NMF")
            W = check_init_factor(W, (X.shape[0], H.shape[0]), "W", dist.dtype, "NMF")
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
        if n_iter == self.max_iter and self.tol > 0:
            warnings.warn(f"Maximum number of iterations {self.max_iter} reached. Increase "
                          "it to improve convergence.", ConvergenceWarning)
        self.reconstruction_err_ = float(np.sqrt(2 * dist.loss(W_blocks, Ht, beta)))
        self.components_ = np.ascontiguousarray(Ht.T)
        self.n_components_ = self.components_.shape[0]
        self.n_iter_ = n_iter
        self.loss_history_ = losses
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
        # -- masked-NMF hook (fastfactor.nmf._masked): NaN or mask= -> masked solvers
        from . import _masked as _nmf_masked_solvers
        if mask is not None or _nmf_masked_solvers.has_missing(X):
            return _nmf_masked_solvers.nmf_fit_transform(self, X, mask=mask, W=W, H=H)
        # -- end of masked-NMF hook
        X = validate_data(self, X, reset=True, accept_sparse=True, ensure_non_negative=True)
        W, H, n_iter, losses, data, beta = self._fit_transform(X, W=W, H=H)
        self._set_fitted(W, H, n_iter, losses, data, beta)
        return W

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
        X = validate_data(self, X, reset=True, accept_sparse=True, ensure_non_negative=True)
        W, H, n_iter, losses, data, beta = self._fit_transform(X, callback=callback,
                                                               resume=resume)
        self._set_fitted(W, H, n_iter, losses, data, beta)
        return self

    def _set_fitted(self, W, H, n_iter, losses, data, beta):
        Ht = np.ascontiguousarray(H.T)
        self.reconstruction_err_ = float(np.sqrt(2 * beta_divergence(data, W, Ht, beta)))
        self.n_components_ = H.shape[0]
        self.components_ = H
        self.n_iter_ = n_iter
        self.loss_history_ = losses

    def fit(self, X, y=None, **params):
        """Learn the factorization of X.

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
        # -- masked-NMF hook (fastfactor.nmf._masked): NaN or mask= -> masked solvers
        from . import _masked as _nmf_masked_solvers
        if mask is not None or _nmf_masked_solvers.has_missing(X):
            return _nmf_masked_solvers.nmf_transform(self, X, mask=mask)
        # -- end of masked-NMF hook
        X = validate_data(self, X, reset=False, accept_sparse=True, ensure_non_negative=True)
        H = self.components_.astype(X.dtype, copy=False)
        W, *_ = self._fit_transform(X, H=H, update_H=False)
        return W

    def inverse_transform(self, X):
        """Map W back to data space: ``W @ components_``.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_components)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self, "components_")
        W = check_array(X, name="X", accept_sparse=True, whom="NMF.inverse_transform")
        if W.shape[1] != self.n_components_:
            raise ValueError(f"X has {W.shape[1]} columns, but NMF has "
                             f"{self.n_components_} components.")
        out = W @ self.components_.astype(W.dtype, copy=False)
        return np.asarray(out)

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _update_tags(self, tags):
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = True  # masked-NMF hook: NaN marks a missing entry
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]


def non_negative_factorization(X, W=None, H=None, n_components="auto", *, init=None,
                               update_H=True, solver="cd", beta_loss="frobenius", tol=1e-4,
                               max_iter=200, alpha_W=0.0, alpha_H="same", l1_ratio=0.0,
                               random_state=None, verbose=0, shuffle=False,
                               max_inner_iter="auto", n_threads=None):
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
              max_inner_iter=max_inner_iter, n_threads=n_threads)
    X = check_array(X, accept_sparse=True, ensure_non_negative=True,
                    whom="non_negative_factorization")
    W, H, n_iter, *_ = est._fit_transform(X, W=W, H=H, update_H=update_H)
    return W, H, n_iter
