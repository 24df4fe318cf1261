"""Kernels of sparse coding: soft-thresholding, Lasso by coordinate descent, OMP, FISTA."""
import numpy as np

from .._utils.threads import threads_for
from ._checks import (as_c, check_shape, float_dtype, gram_system, inplace, output_array,
                      sweep_work)
from ._dispatch import sparse_coding as _sparse_coding

__all__ = ["soft_threshold", "soft_threshold_grad", "lasso_cd_gram", "omp_gram", "fista_step"]

# lasso_cd_gram copies working sets of up to this many atoms into a
# contiguous per-thread gram[A, A] (LASSO_PACK_CAP**2 doubles per thread) and
# reads larger ones in place. Tests lower it to reach the in-place path.
LASSO_PACK_CAP = 1024


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
    dtype = float_dtype(Z)
    Z = as_c(Z, dtype, "Z")
    thr = _threshold_vector(threshold, Z.shape[1])
    out = output_array(out, Z.shape, dtype)
    _sparse_coding.soft_threshold(Z, thr, out, bool(positive),
                                  threads_for(2 * Z.size, n_threads))
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
    dtype = float_dtype(Z)
    Z = as_c(Z, dtype, "Z")
    grad_out = as_c(grad_out, dtype, "grad_out")
    check_shape("grad_out", grad_out.shape, Z.shape)
    thr = _threshold_vector(threshold, Z.shape[1])
    grad_Z = np.empty_like(Z)
    grad_thr = np.zeros(Z.shape[1])
    _sparse_coding.soft_threshold_grad(Z, grad_out, thr, grad_Z, grad_thr, bool(positive),
                                       threads_for(2 * Z.size, n_threads))
    return grad_Z, grad_thr


def lasso_cd_gram(code, gram, xd, x_sqnorms, alpha, max_iter=1000, tol=1e-8,
                  positive=False, return_info=False, n_threads=None):
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

    Returns
    -------
    n_iter : ndarray of shape (n_samples,), int32
        Only with ``return_info=True``.
    gaps : ndarray of shape (n_samples,)
        Only with ``return_info=True``.
    """
    code, xd, gram = gram_system(code, "code", xd, "xd", gram, "gram")
    n, k = code.shape
    x_sqnorms = np.ascontiguousarray(x_sqnorms, dtype=np.float64).ravel()
    check_shape("x_sqnorms", x_sqnorms.shape, (n,))
    n_iter = np.zeros(n, dtype=np.intc)
    gaps = np.zeros(n)
    _sparse_coding.lasso_cd_gram(code, gram, xd, x_sqnorms, float(alpha), float(tol),
                                 int(max_iter), bool(positive), n_iter, gaps,
                                 LASSO_PACK_CAP,
                                 threads_for(sweep_work(n, k, max_iter), n_threads))
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
    dtype = float_dtype(xd)
    xd = as_c(xd, dtype, "xd")
    n, k = xd.shape
    gram = as_c(gram, dtype, "gram")
    check_shape("gram", gram.shape, (k, k))
    m = int(n_nonzero_coefs)
    if not 1 <= m <= max(k, 1):
        raise ValueError(f"n_nonzero_coefs must be in [1, {k}] (the number of atoms), "
                         f"got {n_nonzero_coefs}")
    if tol is not None:
        if x_sqnorms is None:
            raise ValueError("omp_gram with tol needs x_sqnorms (squared signal norms)")
        x_sqnorms = np.ascontiguousarray(x_sqnorms, dtype=np.float64).ravel()
        check_shape("x_sqnorms", x_sqnorms.shape, (n,))
    else:
        x_sqnorms = np.zeros(n)
    code = np.zeros((n, k), dtype=dtype)
    n_active = np.zeros(n, dtype=np.intc)
    # step s of m refits s coefficients and updates the k correlations with them
    work = n * k * m * (m + 1) // 2
    _sparse_coding.omp_gram(code, gram, xd, m, -1.0 if tol is None else float(tol),
                            x_sqnorms, float(np.finfo(dtype).eps), n_active,
                            threads_for(work, n_threads))
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
    code = inplace(code, "code")
    momentum = inplace(momentum, "momentum")
    check_shape("momentum", momentum.shape, code.shape)
    if momentum.dtype != code.dtype:
        raise ValueError(f"momentum must have dtype {code.dtype}, got {momentum.dtype}")
    grad = as_c(grad, code.dtype, "grad")
    check_shape("grad", grad.shape, code.shape)
    if not (isinstance(t, np.ndarray) and t.dtype == np.float64 and t.ndim == 1
            and t.flags.c_contiguous and t.flags.writeable):
        raise ValueError("t must be a writeable 1-D float64 array (it is updated in place)")
    check_shape("t", t.shape, (code.shape[0],))
    change = np.zeros(code.shape[0])
    _sparse_coding.fista_step(code, momentum, grad, t, float(step), float(alpha),
                              bool(positive), change, threads_for(4 * code.size, n_threads))
    return change
