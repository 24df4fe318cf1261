"""Kernels of NMF with missing entries: the loss and updates over the observed entries.

X_obs below is a CSR matrix whose *stored* entries are the observed ones
(explicit zeros are observed zeros); every other entry is missing. The W
side of a masked NMF uses X_obs with (W, Ht); the H side uses the CSR of
X_obs.T with (Ht, W).
"""
import numpy as np

from .._utils.threads import threads_for
from ._checks import as_c, check_shape, coordinate_sweeps, csr, float_dtype, inplace, sweep_work
from ._dispatch import nmf_masked as _nmf_masked

__all__ = ["masked_hals_update", "masked_mu_terms", "masked_beta_divergence"]


def _observed_rows(X_obs, W, Ht, name="X_obs"):
    """Common dtype and CSR arrays of X_obs, with shapes checked against W, Ht."""
    W_arr = np.asarray(W)
    if W_arr.ndim != 2:
        raise ValueError(f"W must be 2-D, got shape {W_arr.shape}")
    dtype = float_dtype(W_arr)
    data, indices, indptr, shape = csr(X_obs, dtype, name)
    check_shape("W", W_arr.shape, (shape[0], W_arr.shape[1]))
    Ht = as_c(Ht, dtype, "Ht")
    check_shape("Ht", Ht.shape, (shape[1], W_arr.shape[1]))
    return dtype, data, indices, indptr, shape, Ht


def masked_hals_update(W, X_obs, Ht, permutation=None, max_inner=1, inner_tol=0.0,
                       l1_reg=0.0, l2_reg=0.0, missing=None, n_threads=None):
    """One HALS update of W for a loss over the observed entries only, in place.

    Each row ``w_i`` of ``W`` minimises
    ``0.5 * sum_{j observed in row i} (x_ij - w_i . h_j)^2 + l1_reg * sum(w_i)
    + 0.5 * l2_reg * ||w_i||^2`` over ``w_i >= 0`` by coordinate sweeps. Every
    row has its own Gram matrix ``G_i = sum_{j observed} h_j h_j^T``; the
    kernel builds it (and ``b_i = sum_{j observed} x_ij h_j``) in a per-thread
    buffer, then sweeps, rows in parallel. Called with ``X_obs.T`` (CSR),
    ``Ht`` in place of ``W`` and ``W`` in place of ``Ht``, it updates H.

    Parameters
    ----------
    W : ndarray of shape (m, k), float32 or float64, C-contiguous
        Factor to update, in place.
    X_obs : scipy.sparse matrix of shape (m, n)
        Stored entries are the observed ones (explicit zeros count).
    Ht : array-like of shape (n, k)
        The other factor, transposed.
    permutation : array-like of int, shape (k,), optional
        Coordinate order; default ``range(k)``.
    max_inner : int, default=1
        Maximum sweeps per row (the Gram matrix is reused).
    inner_tol : float, default=0.0
        A row stops once a sweep changes it by less than ``inner_tol``
        times the first sweep's change (squared norms).
    l1_reg, l2_reg : float, default=0.0
        Penalties on W.
    missing : scipy.sparse matrix of shape (m, n), optional
        The missing entries' pattern (the complement of ``X_obs``'s). When
        given, a row missing fewer entries than it observes builds its Gram
        matrix as ``Ht.T @ Ht`` minus the missing columns' outer products,
        which is cheaper for mostly observed data. Same result to rounding.
    n_threads : int, optional

    Returns
    -------
    violation : float
        Sum over rows of the absolute projected gradient in the first sweep.
    """
    W = inplace(W, "W")
    m, k = W.shape
    dtype, data, indices, indptr, shape, Ht = _observed_rows(X_obs, W, Ht)
    perm, max_inner = coordinate_sweeps(permutation, max_inner, k)
    # each row's Gram matrix costs k*k/2 per observed entry (or missing one,
    # when the row builds it from Ht.T @ Ht and has fewer of those)
    gram_entries = indices.size
    if missing is not None:
        _, miss_indices, miss_indptr, miss_shape = csr(missing, dtype, "missing")
        check_shape("missing", miss_shape, shape)
        Ht64 = Ht.astype(np.float64)
        HHt = np.ascontiguousarray(Ht64.T @ Ht64)
        gram_entries = min(gram_entries, miss_indices.size)
    else:
        miss_indices = np.zeros(1, dtype=np.intp)
        miss_indptr = np.zeros(m + 1, dtype=np.intp)
        HHt = np.zeros((max(k, 1), max(k, 1)))
    if k == 0:
        return 0.0
    return _nmf_masked.masked_hals_update(
        W, data if data.size else np.zeros(1, dtype), indices if indices.size else
        np.zeros(1, dtype=np.intp), indptr, Ht if Ht.size else np.zeros((1, k), dtype),
        HHt, miss_indices if miss_indices.size else np.zeros(1, dtype=np.intp), miss_indptr,
        missing is not None, perm, max_inner, float(inner_tol), float(l1_reg),
        float(l2_reg), threads_for(gram_entries * k * k // 2 + sweep_work(m, k, max_inner),
                                   n_threads))


def masked_mu_terms(X_obs, W, Ht, beta, n_threads=None):
    """Numerator and denominator of the masked multiplicative update of W.

    With ``wh_ij = W[i] . Ht[j]`` and sums over the observed ``j`` of row i::

        numerator[i]   = sum_j x_ij * wh_ij ** (beta - 2) * Ht[j]
        denominator[i] = sum_j wh_ij ** (beta - 1) * Ht[j]

    with scikit-learn's float32-epsilon floor on ``wh`` where a negative
    power is taken. Without missing entries these are the usual
    ``(X * WH**(beta-2)) @ H.T`` and ``WH**(beta-1) @ H.T``. Feed them to
    :func:`mu_update`. Called with ``X_obs.T``, ``(Ht, W)`` it gives H's terms.

    Parameters
    ----------
    X_obs : scipy.sparse matrix of shape (m, n)
        Stored entries are the observed ones.
    W : array-like of shape (m, k)
    Ht : array-like of shape (n, k)
    beta : float
        The beta of the divergence (2 Frobenius, 1 Kullback-Leibler, ...).
    n_threads : int, optional

    Returns
    -------
    numerator, denominator : ndarrays of shape (m, k)
    """
    dtype, data, indices, indptr, shape, Ht = _observed_rows(X_obs, W, Ht)
    W = as_c(W, dtype, "W")
    m, k = W.shape
    num = np.empty((m, k), dtype=dtype)
    den = np.empty((m, k), dtype=dtype)
    if m and k:
        _nmf_masked.masked_mu_terms(
            data if data.size else np.zeros(1, dtype), indices if indices.size else
            np.zeros(1, dtype=np.intp), indptr, W, Ht if Ht.size else np.zeros((1, k), dtype),
            float(beta), num, den, threads_for(3 * indices.size * k, n_threads))
    return num, den


def masked_beta_divergence(X_obs, W, Ht, beta, n_threads=None):
    """Beta-divergence of X and ``W @ Ht.T`` summed over the observed entries.

    Per entry, scikit-learn's conventions: ``0.5 * (x - wh)^2`` for beta=2;
    for other betas the terms involving x only where ``x > eps``, and wh
    floored at float32 epsilon where it is divided by. Without missing
    entries this is scikit-learn's ``_beta_divergence``.

    Parameters
    ----------
    X_obs, W, Ht, beta, n_threads
        As in :func:`masked_mu_terms`.

    Returns
    -------
    float
    """
    dtype, data, indices, indptr, shape, Ht = _observed_rows(X_obs, W, Ht)
    W = as_c(W, dtype, "W")
    k = W.shape[1]
    if data.size == 0:
        return 0.0
    work = data.size * (k + 8)  # a dot product and a few logs or powers per entry
    if k == 0:
        W = np.zeros((W.shape[0], 1), dtype)
        Ht = np.zeros((Ht.shape[0], 1), dtype)
    return float(_nmf_masked.masked_beta_divergence(
        data, indices, indptr, W, Ht if Ht.size else np.zeros((1, W.shape[1]), dtype),
        float(beta), threads_for(work, n_threads)))
