"""Masked NMF: X with missing entries, the loss counts observed entries only.

A missing entry is a NaN in X, or, for any X (and necessarily for sparse X,
whose absent entries are zeros), an entry where the boolean ``mask`` is
False. :class:`fastfactor.NMF` routes such input here from ``fit``,
``fit_transform`` and ``transform``; both solvers and every beta-loss work:

``cd``
    HALS on ``0.5 * sum_observed (x_ij - w_i . h_j)^2``. Every row of W has
    its own Gram matrix over the columns it observes (and every column of H
    over the rows); :func:`fastfactor.kernels.masked_hals_update` builds
    each one in a per-thread buffer and sweeps it, rows in parallel.
``mu``
    Multiplicative updates with numerator and denominator summed over the
    observed entries only (:func:`fastfactor.kernels.masked_mu_terms`).

The observed entries are held as a CSR matrix (explicit zeros are observed
zeros) plus its transpose, so the cost is proportional to the number of
observed entries: a ratings matrix with 2% observed costs 2% of a dense fit.
"""
import time

import numpy as np
import scipy.sparse as sp

from .. import kernels
from .._utils.threads import MIN_WORK_PER_THREAD
from .._utils.validation import (
    check_mask,
    check_non_negative,
    check_observed_lines,
    check_random_state,
    validate_data,
)
from ._solvers import (
    HALS_INNER_TOL,
    hals_converged,
    inner_sweep_budget,
    mu_converged,
    mu_gamma,
    mu_test_due,
    mu_zero_floors,
    run_solver,
)
from ._validation import check_beta_zeros

__all__ = ["has_missing", "MaskedData", "observed_entries", "fit_masked_hals",
           "fit_masked_multiplicative", "nmf_fit_transform", "nmf_transform"]


def has_missing(X):
    """True when X holds a NaN (one cheap pass; False for non-float input)."""
    if sp.issparse(X):
        if X.format in ("dok", "lil"):  # no flat data array: convert (cheap next to a fit)
            X = X.tocsr()
        values = X.data
    elif hasattr(X, "dtype") and hasattr(X, "shape") and not hasattr(X, "iloc"):
        values = X
    else:
        try:
            values = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X)
        except Exception:  # let the regular validation report it
            return False
    if getattr(values, "dtype", None) is None or values.dtype.kind not in "fc":
        return False
    return bool(values.size) and bool(np.isnan(values.sum(dtype=values.dtype)))


# ---------------------------------------------------------------- observed data

def observed_entries(X, mask=None):
    """CSR of X's observed entries (explicit zeros kept) from NaN and ``mask``.

    Parameters
    ----------
    X : ndarray (may hold NaN) or CSR matrix, already validated
    mask : None, bool array-like or scipy.sparse matrix of X's shape
        True (or a stored non-zero) marks an observed entry. For sparse X
        without a mask, every entry except stored NaN is observed (the
        pattern then has m x n entries).

    Returns
    -------
    scipy.sparse.csr_matrix with intp indices
    """
    m, n = X.shape
    if mask is not None:
        mask = check_mask(mask, X.shape)
    if sp.issparse(X) and mask is None:
        X = X.toarray()
    if not sp.issparse(X):
        observed = ~np.isnan(X)
        if mask is not None:
            observed &= mask.toarray() if sp.issparse(mask) else mask
        rows, cols = np.nonzero(observed)
        values = X[rows, cols]
    else:
        if sp.issparse(mask):
            mask_csr = sp.csr_matrix(mask)
            mask_csr.sum_duplicates()
            mask_csr.eliminate_zeros()
            rows = np.repeat(np.arange(m, dtype=np.intp), np.diff(mask_csr.indptr))
            cols = mask_csr.indices.astype(np.intp)
        else:
            rows, cols = np.nonzero(mask)
        # gather X at the observed positions: X's (row, col) keys are sorted in CSR
        x_rows = np.repeat(np.arange(m, dtype=np.int64), np.diff(X.indptr))
        x_keys = x_rows * n + X.indices
        keys = rows.astype(np.int64) * n + cols
        pos = np.searchsorted(x_keys, keys)
        pos_ok = np.minimum(pos, max(x_keys.size - 1, 0))
        found = (pos < x_keys.size) & (x_keys[pos_ok] == keys) if x_keys.size else \
            np.zeros(keys.size, dtype=bool)
        values = np.where(found, X.data[pos_ok] if X.nnz else 0, 0).astype(X.dtype)
        keep = ~np.isnan(values)
        rows, cols, values = rows[keep], cols[keep], values[keep]
    indptr = np.zeros(m + 1, dtype=np.intp)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    return sp.csr_matrix((np.ascontiguousarray(values, dtype=X.dtype),
                          np.ascontiguousarray(cols, dtype=np.intp), indptr), shape=(m, n))


def _transpose(A):
    """CSR of A.T with intp indices (explicit zeros kept)."""
    At = sp.csr_matrix(A.T)
    At.sum_duplicates()
    return sp.csr_matrix((At.data, At.indices.astype(np.intp), At.indptr.astype(np.intp)),
                         shape=At.shape)


def _missing_pattern(X_obs):
    """CSR pattern of the entries X_obs does not store (the missing ones)."""
    m, n = X_obs.shape
    observed = np.zeros((m, n), dtype=bool)
    observed[np.repeat(np.arange(m), np.diff(X_obs.indptr)), X_obs.indices] = True
    rows, cols = np.nonzero(~observed)
    indptr = np.zeros(m + 1, dtype=np.intp)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    return sp.csr_matrix((np.ones(rows.size, dtype=X_obs.dtype), cols.astype(np.intp),
                          indptr), shape=(m, n))


class MaskedData:
    """Observed entries of X as CSR, its transpose, and optionally the missing patterns.

    The missing patterns (used by HALS to build a row's Gram matrix from the
    full one minus the few missing columns) are only built when more than
    half of X is observed, where they pay off.
    """

    def __init__(self, X_obs, n_threads, complement="auto"):
        self.X = X_obs
        self.Xt = _transpose(X_obs)
        self.shape = X_obs.shape
        self.dtype = X_obs.dtype
        self.n_threads = n_threads
        m, n = X_obs.shape
        dense_enough = X_obs.nnz > 0.5 * m * n
        if complement == "auto":
            complement = dense_enough
        self.missing = self.missing_t = None
        if complement:
            self.missing = _missing_pattern(X_obs)
            self.missing_t = _transpose(self.missing)

    def loss(self, W, Ht, beta):
        """Beta-divergence over the observed entries."""
        return kernels.masked_beta_divergence(self.X, W, Ht, beta, n_threads=self.n_threads)


# ---------------------------------------------------------------------- solvers

def _gram_cost(obs, missing, k):
    """Flops to build every row's Gram matrix and right-hand side."""
    per_row = np.diff(obs.indptr)
    if missing is not None:
        per_row = np.minimum(per_row, np.diff(missing.indptr))
    return float(per_row.sum()) * k * k / 2 + obs.nnz * k


def fit_masked_hals(data, W, Ht, *, tol, max_iter, l1_reg_W, l1_reg_H, l2_reg_W, l2_reg_H,
                    update_H, verbose, shuffle, random_state, max_inner_iter, n_threads):
    """Masked HALS; W (m, k) and Ht (n, k) are updated in place.

    Returns the number of iterations and the loss (0.5 * squared error over
    the observed entries) after each one.
    """
    m, n = data.shape
    k = W.shape[1]
    rng = check_random_state(random_state)
    if max_inner_iter == "auto":
        # its products are per-row Gram builds, not GEMMs: as slow per flop as a sweep
        costs = dict(sweep_flop_cost=1, iteration_flops=0)
        inner_W = inner_sweep_budget(m, k, _gram_cost(data.X, data.missing, k), **costs)
        inner_H = inner_sweep_budget(n, k, _gram_cost(data.Xt, data.missing_t, k), **costs)
    else:
        inner_W = inner_H = int(max_inner_iter)
    progress = dict(losses=[], violation_init=None)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        perm = rng.permutation(k) if shuffle else None
        violation = kernels.masked_hals_update(W, data.X, Ht, perm, inner_W, HALS_INNER_TOL,
                                               l1_reg_W, l2_reg_W, missing=data.missing,
                                               n_threads=n_threads)
        loss = None
        if update_H:
            perm = rng.permutation(k) if shuffle else None
            violation += kernels.masked_hals_update(Ht, data.Xt, W, perm, inner_H,
                                                    HALS_INNER_TOL, l1_reg_H, l2_reg_H,
                                                    missing=data.missing_t,
                                                    n_threads=n_threads)
            loss = data.loss(W, Ht, 2.0)
        if hals_converged(progress, n_iter, violation, tol, verbose, loss):
            break
    return n_iter, progress["losses"]


def fit_masked_multiplicative(data, W, Ht, *, beta, tol, max_iter, l1_reg_W, l1_reg_H,
                              l2_reg_W, l2_reg_H, update_H, verbose, n_threads):
    """Masked multiplicative updates; W and Ht are updated in place.

    Convergence is tested every 10 iterations on the relative decrease of
    the observed-entry loss, as the plain solver does.
    """
    gamma = mu_gamma(beta)
    zero_W, zero_H = mu_zero_floors(beta)
    start = time.perf_counter()
    error_at_init = np.sqrt(2 * data.loss(W, Ht, beta))
    progress = dict(losses=[], error_at_init=error_at_init, previous_error=error_at_init)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        num, den = kernels.masked_mu_terms(data.X, W, Ht, beta, n_threads=n_threads)
        kernels.mu_update(W, num, den, l1_reg_W, l2_reg_W, gamma, zero_W, n_threads=n_threads)
        if update_H:
            num, den = kernels.masked_mu_terms(data.Xt, Ht, W, beta, n_threads=n_threads)
            kernels.mu_update(Ht, num, den, l1_reg_H, l2_reg_H, gamma, zero_H,
                              n_threads=n_threads)
        if mu_test_due(n_iter, tol) and mu_converged(
                progress, n_iter, data.loss(W, Ht, beta), tol, verbose, started=start,
                exact_start_converges=True):
            break
    return n_iter, progress["losses"]


# ------------------------------------------------------------ estimator plumbing

def _validate_masked(est, X, mask, reset):
    """Validated X (NaN allowed) and the CSR of its observed entries."""
    whom = type(est).__name__
    X = validate_data(est, X, reset=reset, accept_sparse=True, allow_nan=True)
    X_obs = observed_entries(X, mask)
    check_non_negative(X_obs, whom, name="X")
    return X, X_obs


def _filled_for_init(X, X_obs):
    """A complete matrix for the initialisation: missing entries take column means.

    Sparse X is not densified: its observed entries are scaled by the
    inverse of the observed fraction (an unbiased estimate of the full X).
    """
    m, n = X.shape
    if sp.issparse(X):
        return X_obs * (m * n / max(X_obs.nnz, 1))
    counts = np.bincount(X_obs.indices, minlength=n)
    sums = np.bincount(X_obs.indices, weights=X_obs.data, minlength=n)
    col_mean = (sums / np.maximum(counts, 1)).astype(X.dtype)
    filled = np.where(np.isnan(X), col_mean[None, :], X).astype(X.dtype, copy=False)
    if X_obs.nnz < m * n and X_obs.nnz + int(np.isnan(X).sum()) < m * n:
        # entries masked out but not NaN
        observed = np.zeros((m, n), dtype=bool)
        observed[np.repeat(np.arange(m), np.diff(X_obs.indptr)), X_obs.indices] = True
        filled = np.where(observed, filled, col_mean[None, :]).astype(X.dtype, copy=False)
    return np.ascontiguousarray(filled)


def _solve(est, X, X_obs, W, H, update_H):
    """Masked counterpart of ``NMF._fit_transform``; returns W, H, n_iter, losses, data, beta."""
    n_components, beta = est._check_params(X)
    check_beta_zeros(beta, est.beta_loss, lambda: X_obs.nnz == 0 or X_obs.data.min() == 0,
                     where="the observed entries of X")
    if update_H and est.init == "custom":
        X_init = X  # only its shape and dtype are used
    elif not update_H:
        # only the mean of X is used (the 'mu' start): that of the observed entries
        X_init = X_obs * (X.shape[0] * X.shape[1] / max(X_obs.nnz, 1))
    else:
        X_init = _filled_for_init(X, X_obs)
    W, H = est._initial_factors(X_init, W, H, n_components, update_H)
    W = np.ascontiguousarray(W, dtype=X.dtype)
    Ht = np.ascontiguousarray(H.T, dtype=X.dtype)
    n_threads = est._effective_n_threads()
    if X_obs.nnz * W.shape[1] < MIN_WORK_PER_THREAD:
        # a parallel region costs more than it saves here (much more on shared cores)
        n_threads = 1
    data = MaskedData(X_obs, n_threads)
    n_iter, losses = run_solver(est, fit_masked_hals, fit_masked_multiplicative, data, W, Ht,
                                beta=beta, update_H=update_H, n_threads=n_threads)
    return W, np.ascontiguousarray(Ht.T), n_iter, losses, data, beta


def nmf_fit_transform(est, X, mask=None, W=None, H=None):
    """``NMF.fit_transform`` for X with missing entries (NaN or ``mask``)."""
    X, X_obs = _validate_masked(est, X, mask, reset=True)
    check_observed_lines(X_obs, "X", axis="both")
    W, H, n_iter, losses, data, beta = _solve(est, X, X_obs, W, H, update_H=True)
    est._set_fitted(H, n_iter, losses, data.loss(W, np.ascontiguousarray(H.T), beta))
    est.n_observed_ = int(X_obs.nnz)
    return W


def nmf_transform(est, X, mask=None):
    """``NMF.transform`` for X with missing entries: W from the observed entries only."""
    X, X_obs = _validate_masked(est, X, mask, reset=False)
    check_observed_lines(X_obs, "X", axis="rows")
    H = est.components_.astype(X.dtype, copy=False)
    W, *_ = _solve(est, X, X_obs, None, H, update_H=False)
    return W
