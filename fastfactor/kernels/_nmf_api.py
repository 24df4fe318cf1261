"""Kernels of the NMF solvers: HALS and multiplicative updates, beta-divergences."""
import numpy as np

from .._utils.threads import single_threaded_blas, threads_for
from ._checks import (as_c, check_shape, coordinate_sweeps, csr, float_dtype, gram_system,
                      inplace, output_array, sweep_work)
from ._dispatch import nmf as _nmf

__all__ = [
    "hals_update",
    "mu_update",
    "mu_beta_terms",
    "mu_beta_products",
    "beta_divergence_dense",
    "sampled_dot",
]


def hals_update(W, XHt, HHt, permutation=None, max_inner=1, inner_tol=0.0, n_threads=None):
    """One HALS / coordinate-descent update of a non-negative factor, in place.

    For every row ``w`` of ``W`` (independently, rows in parallel) sweep the
    coordinates ``t`` in ``permutation`` order::

        grad = HHt[t] @ w - XHt[t]
        w[t] = max(0, w[t] - grad / HHt[t, t])

    which minimises ``0.5 * ||X - W H||^2`` over ``W >= 0`` for fixed ``H``
    given ``XHt = X @ H.T`` and ``HHt = H @ H.T``. With ``max_inner > 1`` the
    sweep is repeated on each row (reusing ``XHt`` and ``HHt``, the costly
    products) until a sweep changes the row by less than ``inner_tol``
    times what the first sweep changed it (squared norms): accelerated HALS.
    ``max_inner=1`` is exactly scikit-learn's ``_update_cdnmf_fast``.

    Parameters
    ----------
    W : ndarray of shape (n_rows, k), float32 or float64, C-contiguous
        Factor to update, in place.
    XHt : array-like of shape (n_rows, k)
        ``X @ H.T`` (minus any L1 penalty).
    HHt : array-like of shape (k, k)
        ``H @ H.T`` (plus any L2 penalty on the diagonal).
    permutation : array-like of int, shape (k,), optional
        Coordinate order; default ``range(k)``.
    max_inner : int, default=1
        Maximum sweeps per row.
    inner_tol : float, default=0.0
        Relative change below which a row stops sweeping.
    n_threads : int, optional
        Threads to use; default follows OpenMP.

    Returns
    -------
    violation : float
        Sum over rows of the absolute projected gradient seen in the first
        sweep (scikit-learn's convergence measure).
    """
    W, XHt, HHt = gram_system(W, "W", XHt, "XHt", HHt, "HHt")
    n_rows, k = W.shape
    perm, max_inner = coordinate_sweeps(permutation, max_inner, k)
    with single_threaded_blas():  # every chunk of rows runs its own GEMM
        return _nmf.hals_update(W, XHt, HHt, perm, max_inner, float(inner_tol),
                                threads_for(sweep_work(n_rows, k, max_inner), n_threads))


def mu_update(W, numerator, denominator, l1_reg=0.0, l2_reg=0.0, gamma=1.0,
              zero_below=0.0, n_threads=None):
    """Multiplicative update of a non-negative factor, in place.

    ``W *= (numerator / (denominator + l1_reg + l2_reg * W)) ** gamma`` with
    a zero denominator replaced by float32 epsilon (as scikit-learn does),
    then entries below ``zero_below`` set to zero.

    Parameters
    ----------
    W : ndarray of shape (n_rows, k), float32 or float64, C-contiguous
        Factor to update, in place.
    numerator : array-like of shape (n_rows, k)
    denominator : array-like of shape (n_rows, k) or (1, k)
        A single row is broadcast to every row.
    l1_reg, l2_reg : float, default=0.0
        Penalties added to the denominator (when positive).
    gamma : float, default=1.0
        Exponent of the ratio (``< 1`` for beta-divergences outside [1, 2]).
    zero_below : float, default=0.0
        Entries smaller than this after the update are set to 0.
    n_threads : int, optional
    """
    W = inplace(W, "W")
    numerator = as_c(numerator, W.dtype, "numerator")
    denominator = as_c(denominator, W.dtype, "denominator")
    check_shape("numerator", numerator.shape, W.shape)
    if denominator.shape != W.shape and denominator.shape != (1, W.shape[1]):
        raise ValueError(f"denominator has shape {denominator.shape}, expected {W.shape} "
                         f"or (1, {W.shape[1]})")
    _nmf.mu_update(W, numerator, denominator, float(l1_reg), float(l2_reg), float(gamma),
                   float(zero_below), threads_for(4 * W.size, n_threads))


def mu_beta_terms(X, WH, beta, want_pow=False, out=None, n_threads=None):
    """Element-wise terms of the multiplicative update for a beta-divergence.

    Computes ``X * WH ** (beta - 2)`` (the matrix whose product with ``H.T``
    is the update's numerator) and, if asked, ``WH ** (beta - 1)`` (whose
    product with ``H.T`` is its denominator), both with scikit-learn's
    float32-epsilon floor on ``WH`` where a negative power is taken.

    Parameters
    ----------
    X, WH : array-like of shape (m, n)
        Data and current reconstruction ``W @ H``.
    beta : float
        The beta of the divergence (1 = Kullback-Leibler, 0 = Itakura-Saito).
    want_pow : bool, default=False
        Also return ``WH ** (beta - 1)``.
    out : ndarray of shape (m, n), optional
        Where to write the first result; may be ``WH`` itself (in place).
    n_threads : int, optional

    Returns
    -------
    numerator_terms : ndarray of shape (m, n)
    pow_terms : ndarray of shape (m, n) or None
    """
    WH = np.asarray(WH)
    dtype = float_dtype(WH)
    X = as_c(X, dtype, "X")
    WH = as_c(WH, dtype, "WH")
    check_shape("WH", WH.shape, X.shape)
    out = output_array(out, WH.shape, dtype)
    pow_terms = np.empty_like(WH) if want_pow else np.empty((0, 0), dtype=dtype)
    _nmf.mu_beta_terms(X, WH, out, pow_terms, float(beta), bool(want_pow),
                       threads_for(4 * X.size, n_threads))
    return out, (pow_terms if want_pow else None)


# Rows of X per tile of the fused beta-divergence products: about this many
# entries (1 MiB of float64, within a core's L2 cache). On nmf-kl, tiles of
# 16 rows (32K entries) made the small GEMMs inefficient (52 ms per side on
# one thread); 64 rows took 39 ms and 256 rows 35-38 ms.
_MU_TILE_ELEMENTS = 1 << 17


def mu_beta_products(X, W, Ht, beta, for_H=False, tile_rows=None, n_threads=None):
    """Numerator and denominator of a multiplicative update, beta != 2, fused.

    With ``WH = W @ Ht.T``, ``T = X * WH**(beta-2)`` and ``P = WH**(beta-1)``
    (the terms of :func:`mu_beta_terms`), returns ``(T @ Ht, P @ Ht)`` for
    the update of ``W`` or ``(T.T @ W, P.T @ W)`` for the update of ``H``
    (given as ``Ht``). ``WH``, ``T`` and ``P`` are never formed whole: each
    thread takes tiles of rows of X, computes its slice of ``WH`` and the
    products from it with one-thread GEMMs, so the work is one parallel
    region. BLAS is limited to one thread during the call.

    Parameters
    ----------
    X : array-like of shape (m, n)
    W : array-like of shape (m, k)
    Ht : array-like of shape (n, k)
    beta : float
        The beta of the divergence, not 2. For beta == 1 (Kullback-Leibler)
        the denominator is not computed (it is a column sum) and ``None`` is
        returned in its place.
    for_H : bool, default=False
        Return the products for the update of ``H`` (shape (n, k)) instead of
        ``W`` (shape (m, k)).
    tile_rows : int, optional
        Rows per tile; default about 32K entries per tile.
    n_threads : int, optional

    Returns
    -------
    numerator : ndarray of shape (m, k) or (n, k)
    denominator : ndarray of the same shape, or None when beta == 1
    """
    W = np.asarray(W)
    dtype = float_dtype(W)
    X = as_c(X, dtype, "X")
    W = as_c(W, dtype, "W")
    Ht = as_c(Ht, dtype, "Ht")
    m, n = X.shape
    k = W.shape[1]
    check_shape("W", W.shape, (m, k))
    check_shape("Ht", Ht.shape, (n, k))
    if beta == 2:
        raise ValueError("mu_beta_products is for beta != 2; got beta=2")
    if tile_rows is None:
        tile_rows = _MU_TILE_ELEMENTS // max(n, 1)
    tile_rows = max(1, min(int(tile_rows), max(m, 1)))
    threads = threads_for(4 * m * n * k, n_threads)
    threads = min(threads, -(-m // tile_rows)) if m else 1
    want_pow = beta != 1
    out_rows = n if for_H else m
    num = np.zeros((out_rows, k), dtype=dtype)
    den = np.zeros((out_rows, k), dtype=dtype) if want_pow else np.zeros((1, 1), dtype)
    T_buf = np.empty((threads, tile_rows * n), dtype=dtype)
    P_buf = np.empty((threads, tile_rows * n if want_pow else 1), dtype=dtype)
    acc_shape = (threads, n, k) if for_H else (threads, 1, 1)
    num_acc = np.zeros(acc_shape, dtype=dtype)
    den_acc = np.zeros(acc_shape if want_pow else (threads, 1, 1), dtype=dtype)
    with single_threaded_blas():
        _nmf.mu_beta_products(X, W, Ht, float(beta), bool(for_H), num, den, T_buf, P_buf,
                              num_acc, den_acc, tile_rows, threads)
    if for_H:
        # per-thread partial sums added in thread order: deterministic
        for t in range(threads):
            num += num_acc[t]
            if want_pow:
                den += den_acc[t]
    return num, (den if want_pow else None)



def beta_divergence_dense(X, WH, beta, n_threads=None):
    """Beta-divergence ``D_beta(X | WH)`` summed over all entries (beta != 2).

    Follows scikit-learn's ``_beta_divergence`` conventions: entries with
    ``X <= eps`` contribute only through the terms that do not involve
    ``X``, and ``WH`` is floored at float32 epsilon where it is divided by
    or raised to a negative power. For the Frobenius loss (beta == 2) use
    the Gram identity in :mod:`fastfactor.nmf` instead, which needs no
    ``m x n`` product.

    Parameters
    ----------
    X, WH : array-like of shape (m, n)
    beta : float
        Not 2.
    n_threads : int, optional

    Returns
    -------
    float
        The divergence (not square-rooted).
    """
    WH = np.asarray(WH)
    dtype = float_dtype(WH)
    X = as_c(X, dtype, "X")
    WH = as_c(WH, dtype, "WH")
    check_shape("WH", WH.shape, X.shape)
    if beta == 2:
        raise ValueError("beta_divergence_dense is for beta != 2; got beta=2")
    return float(_nmf.beta_divergence_dense(X, WH, float(beta),
                                            threads_for(8 * X.size, n_threads)))


def sampled_dot(X, W, Ht, n_threads=None):
    """``(W @ Ht.T)`` evaluated only at the stored entries of a sparse X.

    Parameters
    ----------
    X : scipy.sparse matrix of shape (m, n)
        Only its sparsity pattern is used (CSR order of the stored entries).
    W : array-like of shape (m, k)
    Ht : array-like of shape (n, k)
    n_threads : int, optional

    Returns
    -------
    ndarray of shape (X.nnz,)
        The products, in the order of ``X.tocsr().data``.
    """
    W = np.asarray(W)
    dtype = float_dtype(W)
    W = as_c(W, dtype, "W")
    Ht = as_c(Ht, dtype, "Ht")
    _, indices, indptr, shape = csr(X, dtype, "X")
    check_shape("W", W.shape, (shape[0], W.shape[1]))
    check_shape("Ht", Ht.shape, (shape[1], W.shape[1]))
    return _nmf.sampled_dot(indptr, indices, W, Ht,
                            threads_for(indices.size * W.shape[1], n_threads))
