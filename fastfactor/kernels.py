"""The stable backend API: one documented Python function per compiled kernel.

These are the building blocks the estimators use, exposed for libraries
that want fast factorization steps without the estimator layer. Each
function has a plain-numpy twin of the same name and signature in
:mod:`fastfactor.reference`; ``fastfactor selftest`` and the test-suite
compare every pair.

Conventions
-----------
* Dense arrays are float32 or float64; a kernel computes in the dtype of its
  first floating argument (float32 in, float32 out) and accumulates long
  sums in float64.
* Arrays are made C-contiguous and cast to the common dtype here when they
  are not already (a copy only in that case). Factors updated *in place*
  (``W`` in :func:`hals_update` and :func:`mu_update`) must already be
  C-contiguous arrays of that dtype, otherwise a ``ValueError`` is raised,
  since a silent copy would lose the update.
* Shapes are checked (cheap, O(1)); values are not: NaN, negative entries
  and the like are the caller's business (the estimators check them once
  per fit in :mod:`fastfactor._validation`).
* ``n_threads=None`` follows OpenMP's setting, so
  ``threadpoolctl.threadpool_limits`` and ``OMP_NUM_THREADS`` apply. Results
  are bitwise identical for a given thread count and agree to rounding
  across thread counts.
* Sparse operands are ``scipy.sparse`` CSR matrices (other formats are
  converted); their index arrays are converted to ``intp`` when needed.
"""
import numpy as np
import scipy.sparse as sp

from . import _nmf, _sparse_products
from . import _nmf_masked
from ._threads import effective_n_threads

__all__ = [
    "hals_update",
    "mu_update",
    "mu_beta_terms",
    "beta_divergence_dense",
    "sampled_dot",
    "csr_matmul",
    "masked_hals_update",
    "masked_mu_terms",
    "masked_beta_divergence",
]


def _float_dtype(*arrays):
    return np.float32 if all(a.dtype == np.float32 for a in arrays) else np.float64


def _as_c(a, dtype, name):
    a = np.asarray(a)
    if a.ndim != 2 and name not in ("permutation",):
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=dtype)


def _inplace(a, name):
    if not isinstance(a, np.ndarray) or a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D numpy array (it is updated in place)")
    if a.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} must be float32 or float64 (it is updated in place), "
                         f"got {a.dtype}")
    if not a.flags.c_contiguous or not a.flags.writeable:
        raise ValueError(f"{name} must be C-contiguous and writeable (it is updated in place)")
    return a


def _csr(A, dtype, name):
    A = sp.csr_matrix(A)
    if not A.has_canonical_format:
        A = A.copy()
        A.sum_duplicates()
    return (np.ascontiguousarray(A.data, dtype=dtype),
            np.ascontiguousarray(A.indices, dtype=np.intp),
            np.ascontiguousarray(A.indptr, dtype=np.intp), A.shape)


def _check_shape(name, actual, expected):
    if tuple(actual) != tuple(expected):
        raise ValueError(f"{name} has shape {tuple(actual)}, expected {tuple(expected)}")


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
    W = _inplace(W, "W")
    n_rows, k = W.shape
    XHt = _as_c(XHt, W.dtype, "XHt")
    HHt = _as_c(HHt, W.dtype, "HHt")
    _check_shape("XHt", XHt.shape, (n_rows, k))
    _check_shape("HHt", HHt.shape, (k, k))
    perm = np.arange(k, dtype=np.intp) if permutation is None else np.ascontiguousarray(
        permutation, dtype=np.intp)
    if perm.shape != (k,) or (k and (perm.min() < 0 or perm.max() >= k)):
        raise ValueError(f"permutation must hold {k} indices in [0, {k}), got {perm!r}")
    if max_inner < 1:
        raise ValueError(f"max_inner must be >= 1, got {max_inner}")
    return _nmf.hals_update(W, XHt, HHt, perm, int(max_inner), float(inner_tol),
                            effective_n_threads(n_threads))


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
    W = _inplace(W, "W")
    numerator = _as_c(numerator, W.dtype, "numerator")
    denominator = _as_c(denominator, W.dtype, "denominator")
    _check_shape("numerator", numerator.shape, W.shape)
    if denominator.shape != W.shape and denominator.shape != (1, W.shape[1]):
        raise ValueError(f"denominator has shape {denominator.shape}, expected {W.shape} "
                         f"or (1, {W.shape[1]})")
    _nmf.mu_update(W, numerator, denominator, float(l1_reg), float(l2_reg), float(gamma),
                   float(zero_below), effective_n_threads(n_threads))


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
    dtype = _float_dtype(WH)
    X = _as_c(X, dtype, "X")
    WH = _as_c(WH, dtype, "WH")
    _check_shape("WH", WH.shape, X.shape)
    if out is None:
        out = np.empty_like(WH)
    else:
        out = _inplace(out, "out")
        _check_shape("out", out.shape, X.shape)
        if out.dtype != dtype:
            raise ValueError(f"out must have dtype {np.dtype(dtype)}, got {out.dtype}")
    pow_terms = np.empty_like(WH) if want_pow else np.empty((0, 0), dtype=dtype)
    _nmf.mu_beta_terms(X, WH, out, pow_terms, float(beta), bool(want_pow),
                       effective_n_threads(n_threads))
    return out, (pow_terms if want_pow else None)


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
    dtype = _float_dtype(WH)
    X = _as_c(X, dtype, "X")
    WH = _as_c(WH, dtype, "WH")
    _check_shape("WH", WH.shape, X.shape)
    if beta == 2:
        raise ValueError("beta_divergence_dense is for beta != 2; got beta=2")
    return float(_nmf.beta_divergence_dense(X, WH, float(beta),
                                            effective_n_threads(n_threads)))


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
    dtype = _float_dtype(W)
    W = _as_c(W, dtype, "W")
    Ht = _as_c(Ht, dtype, "Ht")
    _, indices, indptr, shape = _csr(X, dtype, "X")
    _check_shape("W", W.shape, (shape[0], W.shape[1]))
    _check_shape("Ht", Ht.shape, (shape[1], W.shape[1]))
    return _nmf.sampled_dot(indptr, indices, W, Ht, effective_n_threads(n_threads))


def csr_matmul(A, B, n_threads=None):
    """Sparse-times-dense product ``A @ B``, parallel over the rows of A.

    Parameters
    ----------
    A : scipy.sparse matrix of shape (m, n)
    B : array-like of shape (n, k)
    n_threads : int, optional

    Returns
    -------
    ndarray of shape (m, k)
        In B's dtype (float32 stays float32; sums are accumulated in float64).
    """
    B = np.asarray(B)
    dtype = _float_dtype(B)
    B = _as_c(B, dtype, "B")
    data, indices, indptr, shape = _csr(A, dtype, "A")
    if B.shape[0] != shape[1]:
        raise ValueError(f"B has {B.shape[0]} rows, expected {shape[1]} (A.shape[1])")
    out = np.empty((shape[0], B.shape[1]), dtype=dtype)
    _sparse_products.csr_matmul(data, indices, indptr, B, out,
                                effective_n_threads(n_threads))
    return out


# --------------------------------------------------------------- masked NMF
# X_obs below is a CSR matrix whose *stored* entries are the observed ones
# (explicit zeros are observed zeros); every other entry is missing. The W
# side of a masked NMF uses X_obs with (W, Ht); the H side uses the CSR of
# X_obs.T with (Ht, W).

def _observed_rows(X_obs, W, Ht, name="X_obs"):
    """Common dtype and CSR arrays of X_obs, with shapes checked against W, Ht."""
    W_arr = np.asarray(W)
    if W_arr.ndim != 2:
        raise ValueError(f"W must be 2-D, got shape {W_arr.shape}")
    dtype = _float_dtype(W_arr)
    data, indices, indptr, shape = _csr(X_obs, dtype, name)
    _check_shape("W", W_arr.shape, (shape[0], W_arr.shape[1]))
    Ht = _as_c(Ht, dtype, "Ht")
    _check_shape("Ht", Ht.shape, (shape[1], W_arr.shape[1]))
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
    W = _inplace(W, "W")
    m, k = W.shape
    dtype, data, indices, indptr, shape, Ht = _observed_rows(X_obs, W, Ht)
    perm = np.arange(k, dtype=np.intp) if permutation is None else np.ascontiguousarray(
        permutation, dtype=np.intp)
    if perm.shape != (k,) or (k and (perm.min() < 0 or perm.max() >= k)):
        raise ValueError(f"permutation must hold {k} indices in [0, {k}), got {perm!r}")
    if max_inner < 1:
        raise ValueError(f"max_inner must be >= 1, got {max_inner}")
    if missing is not None:
        _, miss_indices, miss_indptr, miss_shape = _csr(missing, dtype, "missing")
        _check_shape("missing", miss_shape, shape)
        Ht64 = Ht.astype(np.float64)
        HHt = np.ascontiguousarray(Ht64.T @ Ht64)
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
        missing is not None, perm, int(max_inner), float(inner_tol), float(l1_reg),
        float(l2_reg), effective_n_threads(n_threads))


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
    W = _as_c(W, dtype, "W")
    m, k = W.shape
    num = np.empty((m, k), dtype=dtype)
    den = np.empty((m, k), dtype=dtype)
    if m and k:
        _nmf_masked.masked_mu_terms(
            data if data.size else np.zeros(1, dtype), indices if indices.size else
            np.zeros(1, dtype=np.intp), indptr, W, Ht if Ht.size else np.zeros((1, k), dtype),
            float(beta), num, den, effective_n_threads(n_threads))
    return num, den


def masked_beta_divergence(X_obs, W, Ht, beta, n_threads=None):
    """Beta-divergence of X and ``W @ Ht.T`` summed over the observed entries.

    Per entry, scikit-learn's conventions: ``0.5 * (x - wh)^2`` for beta=2;
    for other betas the terms involving x only where ``x > eps``, and wh
    floored at float32 epsilon where it is divided by. Without missing
    entries this is scikit-learn's ``_beta_divergence``.

    Parameters
    ----------
    X_obs : scipy.sparse matrix of shape (m, n)
        Stored entries are the observed ones.
    W : array-like of shape (m, k)
    Ht : array-like of shape (n, k)
    beta : float
    n_threads : int, optional

    Returns
    -------
    float
    """
    dtype, data, indices, indptr, shape, Ht = _observed_rows(X_obs, W, Ht)
    W = _as_c(W, dtype, "W")
    k = W.shape[1]
    if data.size == 0:
        return 0.0
    if k == 0:
        W = np.zeros((W.shape[0], 1), dtype)
        Ht = np.zeros((Ht.shape[0], 1), dtype)
    return float(_nmf_masked.masked_beta_divergence(
        data, indices, indptr, W, Ht if Ht.size else np.zeros((1, W.shape[1]), dtype),
        float(beta), effective_n_threads(n_threads)))
