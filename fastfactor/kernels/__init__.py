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
  per fit in :mod:`fastfactor._utils.validation`).
* ``n_threads=None`` follows OpenMP's setting, so
  ``threadpoolctl.threadpool_limits`` and ``OMP_NUM_THREADS`` apply; calls
  too small to profit from threads (under ~1M multiply-adds per thread)
  use fewer. Results are bitwise identical for a given thread count and
  agree to rounding across thread counts.
* Sparse operands are ``scipy.sparse`` CSR matrices (other formats are
  converted); their index arrays are converted to ``intp`` when needed.
"""
import numpy as np
import scipy.sparse as sp

from . import _dispatch
from .._utils.threads import effective_n_threads, single_threaded_blas
from .._utils.threads import threads_for as _threads_for

# Each compiled module in the fastest build this CPU runs (see _dispatch).
_dense_products = _dispatch.load("_dense_products")
_gmm = _dispatch.load("_gmm")
_kmeans = _dispatch.load("_kmeans")
_nmf = _dispatch.load("_nmf")
_nmf_masked = _dispatch.load("_nmf_masked")
_sparse_coding = _dispatch.load("_sparse_coding")
_sparse_products = _dispatch.load("_sparse_products")

__all__ = [
    "hals_update",
    "mu_update",
    "mu_beta_terms",
    "mu_beta_products",
    "beta_divergence_dense",
    "sampled_dot",
    "csr_matmul",
    "dense_matmul",
    "gmm_em_step",
    "gmm_estimate",
    "gmm_resp_stats",
    "kmeans_plusplus",
    "kmeans_lloyd",
    "soft_threshold",
    "soft_threshold_grad",
    "lasso_cd_gram",
    "omp_gram",
    "fista_step",
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
    if not (sp.issparse(A) and A.format == "csr"):
        A = sp.csr_matrix(A)
    # (a CSR input is used as given: scipy caches the O(nnz) canonical-format
    # check on the object, so a fit's repeated products pay for it once)
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
    with single_threaded_blas():  # every chunk of rows runs its own GEMM
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
    dtype = _float_dtype(W)
    X = _as_c(X, dtype, "X")
    W = _as_c(W, dtype, "W")
    Ht = _as_c(Ht, dtype, "Ht")
    m, n = X.shape
    k = W.shape[1]
    _check_shape("W", W.shape, (m, k))
    _check_shape("Ht", Ht.shape, (n, k))
    if beta == 2:
        raise ValueError("mu_beta_products is for beta != 2; got beta=2")
    if tile_rows is None:
        tile_rows = _MU_TILE_ELEMENTS // max(n, 1)
    tile_rows = max(1, min(int(tile_rows), max(m, 1)))
    threads = _threads_for(4 * m * n * k, n_threads)
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


def dense_matmul(A, B, trans_a=False, n_threads=None):
    """Dense product ``A @ B`` (or ``A.T @ B``) split over threads.

    The rows of the result are cut into one block per thread and each block
    is one single-threaded GEMM (BLAS is limited to one thread during the
    call). Used between OpenMP kernels: BLAS's own worker threads keep
    spinning for a while after a multi-threaded product returns and would
    take the cores from the next OpenMP region.

    Parameters
    ----------
    A : array-like of shape (m, p), or (p, m) when ``trans_a``
    B : array-like of shape (p, k)
    trans_a : bool, default=False
        Multiply by ``A.T`` instead of ``A`` (without copying A).
    n_threads : int, optional

    Returns
    -------
    ndarray of shape (m, k)
        In the common dtype of A and B (float32 only when both are).
    """
    A, B = np.asarray(A), np.asarray(B)
    dtype = _float_dtype(A, B)
    A = _as_c(A, dtype, "A")
    B = _as_c(B, dtype, "B")
    p, m = A.shape if trans_a else A.shape[::-1]
    if B.shape[0] != p:
        raise ValueError(f"B has {B.shape[0]} rows, expected {p} "
                         f"(A.shape[{0 if trans_a else 1}])")
    out = np.empty((m, B.shape[1]), dtype=dtype)
    with single_threaded_blas():
        _dense_products.matmul(A, B, out, bool(trans_a),
                               _threads_for(m * p * B.shape[1] // 8, n_threads))
    return out


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




# ---------------------------------------------------------------- Gaussian mixtures

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_COV_CODE = {"diag": 0, "spherical": 1, "tied": 2, "full": 3}
_LOG_2PI = float(np.log(2 * np.pi))


def _gmm_tile(d, K):
    # Rows per tile: the tile's buffers (features, log-probs, responsibilities)
    # stay within ~128 KiB, a fraction of L2, and GEMMs get >= 64 rows.
    return int(min(1024, max(64, 16384 // (2 * d + 2 * K + 1))))


def _gmm_shapes(covariance_type, n_components, n_features):
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


def _gmm_params(X, weights, means, precisions_cholesky, covariance_type, center):
    """Common checks and casts of the kernels' model parameters."""
    if covariance_type not in _COV_CODE:
        raise ValueError(f"covariance_type must be one of {list(COVARIANCE_TYPES)}, "
                         f"got {covariance_type!r}")
    X = np.asarray(X)
    dtype = _float_dtype(X)
    X = _as_c(X, dtype, "X")
    n_features = X.shape[1]
    means = _as_c(means, np.float64, "means")
    n_components = means.shape[0]
    _check_shape("means", means.shape, (n_components, n_features))
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    _check_shape("weights", weights.shape, (n_components,))
    prec = np.ascontiguousarray(precisions_cholesky, dtype=np.float64)
    _check_shape("precisions_cholesky", prec.shape,
                 _gmm_shapes(covariance_type, n_components, n_features))
    center = (np.zeros(n_features) if center is None
              else np.ascontiguousarray(center, dtype=np.float64))
    _check_shape("center", center.shape, (n_features,))
    return X, dtype, weights, means, prec, center


def _gmm_operands(weights, means, prec, covariance_type, center, dtype):
    """Fold the parameters into the small operands of ``_gmm.em_pass``.

    With ``xc = x - center`` and ``mc = means - center``, the weighted
    log-probability ``log w_k + log N(x | mu_k, Sigma_k)`` is ``F(x) @ W + cst``
    for the feature map F of the covariance type (see ``src/_gmm.pyx``),
    or ``-0.5 |xc @ U_k - b_k|**2 + cst_k`` with ``b_k = mc_k @ U_k`` (W's
    rows) for 'full'. For float32 diag/spherical/tied, ``E`` (the
    precisions, or ``mc @ U`` for tied) and ``cst2`` (``cst`` without the
    ``|mc|**2`` term) let the kernel recompute the best components' values
    by subtracting before squaring.
    """
    K, d = means.shape
    with np.errstate(divide="ignore"):
        base = np.log(weights) - 0.5 * d * _LOG_2PI
    mc = means - center
    chol = np.empty((0, 0, 0))
    # float32 diag/spherical/tied: E and cst2 let the kernel recompute the
    # best components' log-probabilities without the GEMM expansion
    # pmax, cmax: bound the expansion's float32 error (see _log_sum_exp)
    E, cst2, pmax, cmax = np.empty((0, d)), np.empty(0), 0.0, 0.0
    if covariance_type == "diag":
        P = prec ** 2
        W = np.vstack([(P * mc).T, -0.5 * P.T])
        cst2 = base + np.log(prec).sum(axis=1)
        quad = (P * mc ** 2).sum(axis=1)
        cst = cst2 - 0.5 * quad
        E, pmax, cmax = P, P.max(), quad.max()
    elif covariance_type == "spherical":
        p = prec ** 2
        W = np.vstack([(p[:, None] * mc).T, -0.5 * p[None, :]])
        cst2 = base + d * np.log(prec)
        quad = p * (mc ** 2).sum(axis=1)
        cst = cst2 - 0.5 * quad
        E, pmax, cmax = np.repeat(p[:, None], d, axis=1), p.max(), quad.max()
    elif covariance_type == "tied":
        m = mc @ prec
        W = np.vstack([m.T, np.full((1, K), -0.5)])
        cst2 = base + np.log(np.diag(prec)).sum()
        quad = (m ** 2).sum(axis=1)
        cst = cst2 - 0.5 * quad
        chol = prec[None]
        E, pmax, cmax = m, 1.0, quad.max()
    else:
        W = np.einsum("kj,kjl->kl", mc, prec)  # b_k = (mu_k - center) @ U_k
        cst = base + np.log(np.diagonal(prec, axis1=1, axis2=2)).sum(axis=1)
        chol = prec
    if dtype != np.float32 or covariance_type == "full":
        E, cst2 = np.empty((0, d)), np.empty(0)
    return (np.ascontiguousarray(center, dtype=dtype), np.ascontiguousarray(means, dtype=dtype),
            np.ascontiguousarray(chol, dtype=dtype), np.ascontiguousarray(W, dtype=dtype),
            np.ascontiguousarray(cst, dtype=np.float64), np.ascontiguousarray(E, dtype=np.float64),
            np.ascontiguousarray(cst2, dtype=np.float64), float(pmax), float(cmax))


def _gmm_pass(X, weights, means, precisions_cholesky, covariance_type, center, want_stats,
              lpn, labels, proba, n_threads):
    X, dtype, weights, means, prec, center = _gmm_params(
        X, weights, means, precisions_cholesky, covariance_type, center)
    n, d = X.shape
    K = means.shape[0]
    ops = _gmm_operands(weights, means, prec, covariance_type, center, dtype)
    empty_f = np.empty((0, K), dtype=dtype)
    work = n * K * (2 * d * d if covariance_type == "full" else 4 * d)
    with single_threaded_blas():
        return _gmm.em_pass(
            X, _COV_CODE[covariance_type], *ops, bool(want_stats),
            np.empty(0) if lpn is None else lpn,
            np.empty(0, dtype=np.intp) if labels is None else labels,
            empty_f if proba is None else proba,
            _gmm_tile(d, K), _threads_for(work, n_threads))


def _unpack_stats(covariance_type, K, d, acc1, acc2):
    """(nk, s1, s2) from the kernel's accumulators (see ``_stats`` in _gmm.pyx)."""
    acc1 = acc1.reshape(K, -1)
    nk = acc1[:, -1].copy()
    s1 = acc1[:, :d].copy()
    if covariance_type == "diag":
        return nk, s1, acc1[:, d:2 * d].copy()
    if covariance_type == "spherical":
        return nk, s1, acc1[:, d].copy()
    if covariance_type == "tied":
        return nk, s1, None
    # dsyrk filled the lower triangle of each (row-major) scatter matrix
    S = acc2.reshape(K, d, d)
    return nk, s1, np.tril(S) + np.tril(S, -1).transpose(0, 2, 1)


def gmm_em_step(X, weights, means, precisions_cholesky, covariance_type, center=None,
                n_threads=None):
    """One fused pass of EM for a Gaussian mixture: E-step and M-step statistics.

    For the current parameters, computes for every row ``x`` the
    responsibilities ``r_k = P(component k | x)`` and ``log p(x)``, and sums
    over rows what the M-step needs, without forming the n x K matrix of
    responsibilities (rows are processed in tiles, in parallel)::

        log_likelihood = sum_i log p(x_i)
        nk[k]          = sum_i r_ik
        s1[k]          = sum_i r_ik (x_i - c_k)
        s2             diag:      s2[k]    = sum_i r_ik (x_i - c_k) ** 2
                       spherical: s2[k]    = sum_i r_ik |x_i - c_k| ** 2
                       tied:      None (the M-step needs only nk and s1)
                       full:      s2[k]    = sum_i r_ik (x_i - c_k)(x_i - c_k).T

    where ``c_k = center`` for diag, spherical and tied, and ``c_k = means[k]``
    (the current means) for full. Accumulating around a center close to the
    data keeps the M-step's variances free of cancellation.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        float32 data is computed in float32 (statistics in float64).
    weights : array-like of shape (n_components,)
    means : array-like of shape (n_components, n_features)
    precisions_cholesky : array-like
        As scikit-learn's ``precisions_cholesky_``: (K, d, d) for 'full',
        (d, d) for 'tied', (K, d) for 'diag', (K,) for 'spherical'.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    center : array-like of shape (n_features,), optional
        Default zeros; the data mean is the best choice. Like ``means`` for
        'full', it is rounded to X's dtype before use.
    n_threads : int, optional

    Returns
    -------
    log_likelihood : float
    nk : ndarray of shape (n_components,)
    s1 : ndarray of shape (n_components, n_features)
    s2 : ndarray or None
        All float64.
    """
    total, acc1, acc2 = _gmm_pass(X, weights, means, precisions_cholesky,
                                  covariance_type, center, True, None, None, None,
                                  n_threads)
    K, d = np.shape(means)
    return (total,) + _unpack_stats(covariance_type, K, d, acc1, acc2)


def gmm_estimate(X, weights, means, precisions_cholesky, covariance_type, output="score",
                 center=None, n_threads=None):
    """Per-row log-likelihoods, and labels or responsibilities, tile by tile.

    Parameters
    ----------
    X, weights, means, precisions_cholesky, covariance_type, center, n_threads
        As in :func:`gmm_em_step`.
    output : {'score', 'labels', 'proba'}
        What to return besides ``log p(x)``: nothing, the most probable
        component of each row, or the responsibilities (the only n x K array,
        in X's dtype; nothing else of that size is held).

    Returns
    -------
    log_prob : ndarray of shape (n_samples,), float64
        ``log p(x_i)`` under the mixture.
    extra : None, ndarray of intp (n_samples,) or ndarray (n_samples, n_components)
    """
    if output not in ("score", "labels", "proba"):
        raise ValueError(f"output must be 'score', 'labels' or 'proba', got {output!r}")
    n = np.shape(X)[0]
    K = np.shape(means)[0]
    lpn = np.empty(n)
    labels = np.empty(n, dtype=np.intp) if output == "labels" else None
    proba = (np.empty((n, K), dtype=_float_dtype(np.asarray(X)))
             if output == "proba" else None)
    _gmm_pass(X, weights, means, precisions_cholesky, covariance_type, center, False,
              lpn, labels, proba, n_threads)
    return lpn, (labels if output == "labels" else proba)


def gmm_resp_stats(X, resp, covariance_type, center=None, n_threads=None):
    """M-step statistics for given responsibilities (used to initialize).

    Same sums as :func:`gmm_em_step` with ``r = resp``, all taken around
    ``center`` (full included).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    resp : array-like of shape (n_samples, n_components)
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    center : array-like of shape (n_features,), optional
    n_threads : int, optional

    Returns
    -------
    nk, s1, s2
        As in :func:`gmm_em_step`.
    """
    if covariance_type not in _COV_CODE:
        raise ValueError(f"covariance_type must be one of {list(COVARIANCE_TYPES)}, "
                         f"got {covariance_type!r}")
    X = np.asarray(X)
    dtype = _float_dtype(X)
    X = _as_c(X, dtype, "X")
    n, d = X.shape
    resp = _as_c(resp, dtype, "resp")
    _check_shape("resp", resp.shape, (n, resp.shape[1]))
    K = resp.shape[1]
    center = np.zeros(d) if center is None else np.asarray(center, dtype=np.float64)
    _check_shape("center", center.shape, (d,))
    with single_threaded_blas():
        work = n * K * (d * d if covariance_type == "full" else 2 * d)
        acc1, acc2 = _gmm.resp_stats(X, resp, _COV_CODE[covariance_type],
                                     np.ascontiguousarray(center, dtype=dtype),
                                     _gmm_tile(d, K), _threads_for(work, n_threads))
    return _unpack_stats(covariance_type, K, d, acc1, acc2)



# ---------------------------------------------------------------------------- k-means

_KMEANS_TILE = 256


def _rng(random_state):
    from .._utils.validation import check_random_state

    return check_random_state(random_state)


def kmeans_plusplus(X, n_clusters, random_state=None, n_local_trials=None, n_threads=None):
    """k-means++ seeding (greedy, with local trials), as scikit-learn's.

    Draws from ``random_state`` exactly as ``sklearn.cluster.kmeans_plusplus``
    does (one ``choice`` for the first center, then ``n_local_trials``
    uniforms per center), so the same seed picks the same points up to
    floating-point ties. The distances of all rows to the candidates are
    computed in parallel, in float64.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_clusters : int
    random_state : None, int, RandomState or Generator
    n_local_trials : int, optional
        Candidates tried per center; default ``2 + int(log(n_clusters))``.
    n_threads : int, optional

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
        Rows of X, in X's dtype.
    indices : ndarray of shape (n_clusters,)
        Their row indices.
    """
    X = np.asarray(X)
    X = _as_c(X, _float_dtype(X), "X")
    n = X.shape[0]
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be in [1, {n}], got {n_clusters}")
    rng = _rng(random_state)
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    n_threads = _threads_for(n * X.shape[1] * n_local_trials, n_threads)
    weight = np.ones(n, dtype=X.dtype)
    indices = np.full(n_clusters, -1, dtype=int)
    indices[0] = rng.choice(n, p=weight / weight.sum())
    closest = np.full(n, np.inf)
    out = np.empty((1, n))
    pot = _kmeans.pp_distances(X, X[indices[:1]], closest, out, _KMEANS_TILE, n_threads)
    closest, current_pot = out[0].copy(), pot[0]
    out = np.empty((n_local_trials, n))
    for c in range(1, n_clusters):
        rand_vals = rng.uniform(size=n_local_trials) * current_pot
        candidate_ids = np.searchsorted(np.cumsum(closest), rand_vals)
        np.clip(candidate_ids, None, n - 1, out=candidate_ids)
        pots = _kmeans.pp_distances(X, X[candidate_ids], closest, out, _KMEANS_TILE,
                                    n_threads)
        best = int(np.argmin(pots))
        current_pot = pots[best]
        closest[:] = out[best]
        indices[c] = candidate_ids[best]
    return X[indices], indices


def _relocate_empty_clusters(Xc_rows, sums, counts, labels, dist):
    """scikit-learn's rule: an empty cluster takes the point farthest from its center."""
    empty = np.flatnonzero(counts == 0)
    if empty.size == 0:
        return
    far = np.argpartition(dist, -empty.size)[:-empty.size - 1:-1]
    for new_id, idx in zip(empty, far):
        x = Xc_rows(idx)
        old_id = labels[idx]
        sums[old_id] -= x
        sums[new_id] = x
        counts[new_id] = 1
        counts[old_id] -= 1


def kmeans_lloyd(X, centers_init, max_iter=300, tol=1e-4, n_threads=None):
    """Lloyd's k-means from given centers, as scikit-learn's ``KMeans`` runs it.

    Works on data centered at its mean (as scikit-learn does, for accurate
    distances) without copying X. Stops when no label changes (strict
    convergence) or when the squared center shift falls to
    ``tol * mean(var(X, axis=0))``; empty clusters take the points farthest
    from their centers; unless converged strictly, the labels are
    recomputed for the final centers.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    centers_init : array-like of shape (n_clusters, n_features)
    max_iter : int, default=300
    tol : float, default=1e-4
        Relative to the mean variance of the features.
    n_threads : int, optional

    Returns
    -------
    labels : ndarray of int32, shape (n_samples,)
    inertia : float
        Sum of squared distances of the rows to their centers.
    centers : ndarray of shape (n_clusters, n_features), X's dtype
    n_iter : int
    """
    X = np.asarray(X)
    dtype = _float_dtype(X)
    X = _as_c(X, dtype, "X")
    centers_init = _as_c(centers_init, np.float64, "centers_init")
    n, d = X.shape
    K = centers_init.shape[0]
    _check_shape("centers_init", centers_init.shape, (K, d))
    n_threads = _threads_for(n * K * d, n_threads)
    mean = X.mean(axis=0, dtype=np.float64).astype(dtype)
    center = mean.astype(np.float64)
    tol = float(np.mean(X.var(axis=0, dtype=np.float64))) * tol if tol else 0.0
    centers = (centers_init - center).astype(dtype)  # in the centered frame
    labels = np.full(n, -1, dtype=np.int32)
    dist = np.empty(n)

    def xc_row(i):
        return X[i].astype(np.float64) - center

    strict = False
    with single_threaded_blas():
        for it in range(max_iter):
            n_changed, sums, counts = _kmeans.lloyd_iter(
                X, mean, centers, labels, dist, True, _KMEANS_TILE, n_threads)
            _relocate_empty_clusters(xc_row, sums, counts, labels, dist)
            nonempty = counts > 0
            sums[nonempty] /= counts[nonempty, None]
            new_centers = sums.astype(dtype)
            shift = float(((new_centers.astype(np.float64) - centers) ** 2).sum())
            centers = new_centers
            if n_changed == 0:
                strict = True
                break
            if shift <= tol:
                break
        if not strict:
            _kmeans.lloyd_iter(X, mean, centers, labels, dist, False, _KMEANS_TILE,
                               n_threads)
        else:
            # the labels were computed against the previous centers; distances
            # (for the inertia) against the final ones
            _kmeans.lloyd_iter(X, mean, centers, labels.copy(), dist, False,
                               _KMEANS_TILE, n_threads)
    return labels, float(dist.sum()), (centers + center).astype(dtype), it + 1



# ---------------------------------------------------------------------------
# sparse coding
# ---------------------------------------------------------------------------
def _threshold_vector(threshold, k):
    thr = np.asarray(threshold, dtype=np.float64)
    if thr.ndim == 0:
        return np.full(k, float(thr))
    thr = np.ascontiguousarray(thr.ravel())
    if thr.shape != (k,):
        raise ValueError(f"threshold must be a scalar or have shape ({k},), "
                         f"got shape {np.shape(threshold)}")
    return thr


def soft_threshold(Z, threshold, positive=False, out=None, n_threads=None):
    """Soft-thresholding, the proximal operator of the L1 norm.

    ``sign(Z) * max(|Z| - threshold, 0)``, or with ``positive=True`` the
    non-negative version ``max(Z - threshold, 0)``.

    Parameters
    ----------
    Z : array-like of shape (n, k)
    threshold : float or array-like of shape (k,)
        One threshold for all entries, or one per column.
    positive : bool, default=False
        Non-negative soft-threshold.
    out : ndarray of shape (n, k), optional
        Where to write the result; may be ``Z`` itself (in place).
    n_threads : int, optional

    Returns
    -------
    ndarray of shape (n, k)
    """
    Z = np.asarray(Z)
    dtype = _float_dtype(Z)
    Z = _as_c(Z, dtype, "Z")
    thr = _threshold_vector(threshold, Z.shape[1])
    if out is None:
        out = np.empty_like(Z)
    else:
        out = _inplace(out, "out")
        _check_shape("out", out.shape, Z.shape)
        if out.dtype != dtype:
            raise ValueError(f"out must have dtype {np.dtype(dtype)}, got {out.dtype}")
    _sparse_coding.soft_threshold(Z, thr, out, bool(positive), effective_n_threads(n_threads))
    return out


def soft_threshold_grad(Z, grad_out, threshold, positive=False, n_threads=None):
    """Backward pass of :func:`soft_threshold` (for learned thresholds).

    Parameters
    ----------
    Z : array-like of shape (n, k)
        The input of the forward pass.
    grad_out : array-like of shape (n, k)
        Gradient of the loss with respect to the forward pass's output.
    threshold : float or array-like of shape (k,)
    positive : bool, default=False
    n_threads : int, optional

    Returns
    -------
    grad_Z : ndarray of shape (n, k)
        ``grad_out`` where the entry passed the threshold, 0 elsewhere.
    grad_threshold : ndarray of shape (k,), float64
        ``-sum_i grad_out[i, j] * sign(Z[i, j])`` over the entries that passed.
        Summed in fixed blocks of rows: identical for every thread count.
    """
    Z = np.asarray(Z)
    dtype = _float_dtype(Z)
    Z = _as_c(Z, dtype, "Z")
    grad_out = _as_c(grad_out, dtype, "grad_out")
    _check_shape("grad_out", grad_out.shape, Z.shape)
    thr = _threshold_vector(threshold, Z.shape[1])
    grad_Z = np.empty_like(Z)
    grad_thr = np.zeros(Z.shape[1])
    _sparse_coding.soft_threshold_grad(Z, grad_out, thr, grad_Z, grad_thr, bool(positive),
                                       effective_n_threads(n_threads))
    return grad_Z, grad_thr


def lasso_cd_gram(code, gram, xd, x_sqnorms, alpha, max_iter=1000, tol=1e-8,
                  positive=False, return_info=False, n_threads=None, _pack_cap=1024):
    """Lasso for many signals by coordinate descent on the Gram matrix, in place.

    For every signal ``y_i`` (one per row of ``code``, in parallel) solves::

        min_c  0.5 * ||y_i - c @ D||^2 + alpha * ||c||_1     (c >= 0 if positive)

    given only ``gram = D @ D.T``, ``xd[i] = D @ y_i`` and ``x_sqnorms[i] =
    ||y_i||^2``. This is the problem of scikit-learn's ``sparse_encode(...,
    algorithm='lasso_cd', alpha=alpha)``, with its stopping rule: the
    duality gap must fall to ``tol * ||y_i||^2``, checked whenever a sweep
    changes the coefficients by less than ``tol`` times the largest one.
    Coordinates are swept cyclically; once the non-zeros are known, sweeps
    visit only them (an active set) and a full sweep checks the others.

    Parameters
    ----------
    code : ndarray of shape (n_samples, n_components), C-contiguous
        Initial codes (zeros for a cold start); overwritten with the solution.
    gram : array-like of shape (n_components, n_components)
    xd : array-like of shape (n_samples, n_components)
        ``X @ D.T``.
    x_sqnorms : array-like of shape (n_samples,)
        Squared norms of the signals.
    alpha : float
        L1 penalty (>= 0).
    max_iter : int, default=1000
        Maximum number of sweeps per signal (full or active-set).
    tol : float, default=1e-8
    positive : bool, default=False
    return_info : bool, default=False
        Also return the iteration counts and final duality gaps.
    n_threads : int, optional
    _pack_cap : int, default=1024
        Working sets of up to this many atoms are copied into a contiguous
        per-thread ``gram[A, A]`` (``_pack_cap**2`` doubles per thread);
        larger ones are read in place. Private: for tests.

    Returns
    -------
    n_iter : ndarray of shape (n_samples,), int32
        Only with ``return_info=True``.
    gaps : ndarray of shape (n_samples,)
        Only with ``return_info=True``.
    """
    code = _inplace(code, "code")
    n, k = code.shape
    gram = _as_c(gram, code.dtype, "gram")
    xd = _as_c(xd, code.dtype, "xd")
    _check_shape("gram", gram.shape, (k, k))
    _check_shape("xd", xd.shape, (n, k))
    x_sqnorms = np.ascontiguousarray(x_sqnorms, dtype=np.float64).ravel()
    _check_shape("x_sqnorms", x_sqnorms.shape, (n,))
    n_iter = np.zeros(n, dtype=np.intc)
    gaps = np.zeros(n)
    _sparse_coding.lasso_cd_gram(code, gram, xd, x_sqnorms, float(alpha), float(tol),
                                 int(max_iter), bool(positive), n_iter, gaps,
                                 max(int(_pack_cap), 0), effective_n_threads(n_threads))
    if return_info:
        return n_iter, gaps
    return None


def omp_gram(gram, xd, n_nonzero_coefs, x_sqnorms=None, tol=None, n_threads=None):
    """Orthogonal matching pursuit for many signals on the Gram matrix.

    For every signal (in parallel) greedily selects the atom most correlated
    with the residual, then refits all selected atoms by least squares
    (a Cholesky factor of ``gram[S, S]`` grown by one row per atom), like
    scikit-learn's ``orthogonal_mp_gram``.

    Parameters
    ----------
    gram : array-like of shape (n_components, n_components)
        ``D @ D.T``.
    xd : array-like of shape (n_samples, n_components)
        ``X @ D.T``.
    n_nonzero_coefs : int
        Maximum number of atoms per signal, ``1 <= n_nonzero_coefs <= n_components``.
    x_sqnorms : array-like of shape (n_samples,), optional
        Squared signal norms; needed with ``tol``.
    tol : float, optional
        Stop once the squared residual norm is <= tol (then up to
        ``n_nonzero_coefs`` atoms are still allowed).
    n_threads : int, optional

    Returns
    -------
    code : ndarray of shape (n_samples, n_components)
    n_active : ndarray of shape (n_samples,), int32
        Atoms selected per signal (fewer than asked when the residual
        vanished or the atoms became linearly dependent).
    """
    xd = np.asarray(xd)
    dtype = _float_dtype(xd)
    xd = _as_c(xd, dtype, "xd")
    n, k = xd.shape
    gram = _as_c(gram, dtype, "gram")
    _check_shape("gram", gram.shape, (k, k))
    m = int(n_nonzero_coefs)
    if not 1 <= m <= max(k, 1):
        raise ValueError(f"n_nonzero_coefs must be in [1, {k}] (the number of atoms), "
                         f"got {n_nonzero_coefs}")
    if tol is not None:
        if x_sqnorms is None:
            raise ValueError("omp_gram with tol needs x_sqnorms (squared signal norms)")
        x_sqnorms = np.ascontiguousarray(x_sqnorms, dtype=np.float64).ravel()
        _check_shape("x_sqnorms", x_sqnorms.shape, (n,))
    else:
        x_sqnorms = np.zeros(n)
    code = np.zeros((n, k), dtype=dtype)
    n_active = np.zeros(n, dtype=np.intc)
    _sparse_coding.omp_gram(code, gram, xd, m, -1.0 if tol is None else float(tol),
                            x_sqnorms, float(np.finfo(dtype).eps), n_active,
                            effective_n_threads(n_threads))
    return code, n_active


def fista_step(code, momentum, grad, t, step, alpha, positive=False, n_threads=None):
    """One FISTA proximal step with momentum and adaptive restart, in place.

    For every row (signal)::

        c_new = soft_threshold(momentum - step * grad, step * alpha)
        if (momentum - c_new) . (c_new - code) > 0:  t = 1 (restart, no momentum)
        else:  t_new = (1 + sqrt(1 + 4 t^2)) / 2
        momentum = c_new + (t - 1) / t_new * (c_new - code);  code = c_new

    where ``grad = momentum @ gram - xd`` is computed beforehand by a GEMM.

    Parameters
    ----------
    code, momentum : ndarray of shape (n, k), C-contiguous, updated in place
    grad : array-like of shape (n, k)
    t : ndarray of shape (n,), float64, updated in place
        Momentum counters (start at 1).
    step : float
        Step size, ``1 / L`` with ``L`` the largest eigenvalue of the Gram matrix.
    alpha : float
        L1 penalty.
    positive : bool, default=False
    n_threads : int, optional

    Returns
    -------
    change : ndarray of shape (n,)
        ``||c_new - c||^2 / ||c_new||^2`` per row.
    """
    code = _inplace(code, "code")
    momentum = _inplace(momentum, "momentum")
    _check_shape("momentum", momentum.shape, code.shape)
    if momentum.dtype != code.dtype:
        raise ValueError(f"momentum must have dtype {code.dtype}, got {momentum.dtype}")
    grad = _as_c(grad, code.dtype, "grad")
    _check_shape("grad", grad.shape, code.shape)
    if not (isinstance(t, np.ndarray) and t.dtype == np.float64 and t.ndim == 1
            and t.flags.c_contiguous and t.flags.writeable):
        raise ValueError("t must be a writeable 1-D float64 array (it is updated in place)")
    _check_shape("t", t.shape, (code.shape[0],))
    change = np.zeros(code.shape[0])
    _sparse_coding.fista_step(code, momentum, grad, t, float(step), float(alpha),
                              bool(positive), change, effective_n_threads(n_threads))
    return change



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
