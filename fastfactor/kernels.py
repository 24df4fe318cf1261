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

from . import _nmf, _sparse_coding, _sparse_products
from ._threads import effective_n_threads

__all__ = [
    "hals_update",
    "mu_update",
    "mu_beta_terms",
    "beta_divergence_dense",
    "sampled_dot",
    "csr_matmul",
    "soft_threshold",
    "soft_threshold_grad",
    "lasso_cd_gram",
    "omp_gram",
    "fista_step",
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
