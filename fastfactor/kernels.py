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
  ``threadpoolctl.threadpool_limits`` and ``OMP_NUM_THREADS`` apply; calls
  too small to profit from threads (under ~32k multiply-adds per thread)
  use fewer. Results are bitwise identical for a given thread count and
  agree to rounding across thread counts.
* Sparse operands are ``scipy.sparse`` CSR matrices (other formats are
  converted); their index arrays are converted to ``intp`` when needed.
"""
import numpy as np
import scipy.sparse as sp

from . import _nmf, _sparse_products
from ._threads import effective_n_threads

__all__ = [
    "hals_update",
    "mu_update",
    "mu_beta_terms",
    "beta_divergence_dense",
    "sampled_dot",
    "csr_matmul",
]


# Below this much work (about one multiply-add per unit) per thread, the
# fork/join of a parallel region costs more than it saves, and on a busy
# machine each region can wait a whole scheduler slice for its second thread.
_MIN_WORK_PER_THREAD = 32768


def _threads_for(work, n_threads):
    """Threads worth using for ``work`` units; results do not depend on it."""
    n = effective_n_threads(n_threads)
    return max(1, min(n, int(work) // _MIN_WORK_PER_THREAD))


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
    work = n_rows * k * k * max(1, min(int(max_inner), 4))
    return _nmf.hals_update(W, XHt, HHt, perm, int(max_inner), float(inner_tol),
                            _threads_for(work, n_threads))


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
                   float(zero_below), _threads_for(4 * W.size, n_threads))


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
                       _threads_for(4 * X.size, n_threads))
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
                                            _threads_for(8 * X.size, n_threads)))


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
    return _nmf.sampled_dot(indptr, indices, W, Ht,
                            _threads_for(indices.size * W.shape[1], n_threads))


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
                                _threads_for(indices.size * B.shape[1], n_threads))
    return out
