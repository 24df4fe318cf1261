"""Kernels of Gaussian mixtures: the fused EM pass, scoring, M-step statistics."""
import numpy as np

from .._utils.threads import single_threaded_blas, threads_for
from ._checks import as_c, check_shape, float_dtype
from ._dispatch import gmm as _gmm

__all__ = ["gmm_em_step", "gmm_estimate", "gmm_resp_stats"]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
_COV_CODE = {"diag": 0, "spherical": 1, "tied": 2, "full": 3}
_LOG_2PI = float(np.log(2 * np.pi))


def _check_covariance_type(covariance_type):
    if covariance_type not in _COV_CODE:
        raise ValueError(f"covariance_type must be one of {list(COVARIANCE_TYPES)}, "
                         f"got {covariance_type!r}")


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
    _check_covariance_type(covariance_type)
    X = np.asarray(X)
    dtype = float_dtype(X)
    X = as_c(X, dtype, "X")
    n_features = X.shape[1]
    means = as_c(means, np.float64, "means")
    n_components = means.shape[0]
    check_shape("means", means.shape, (n_components, n_features))
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    check_shape("weights", weights.shape, (n_components,))
    prec = np.ascontiguousarray(precisions_cholesky, dtype=np.float64)
    check_shape("precisions_cholesky", prec.shape,
                _gmm_shapes(covariance_type, n_components, n_features))
    center = (np.zeros(n_features) if center is None
              else np.ascontiguousarray(center, dtype=np.float64))
    check_shape("center", center.shape, (n_features,))
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
            _gmm_tile(d, K), threads_for(work, n_threads))


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
    proba = (np.empty((n, K), dtype=float_dtype(np.asarray(X)))
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
    _check_covariance_type(covariance_type)
    X = np.asarray(X)
    dtype = float_dtype(X)
    X = as_c(X, dtype, "X")
    n, d = X.shape
    resp = as_c(resp, dtype, "resp")
    check_shape("resp", resp.shape, (n, resp.shape[1]))
    K = resp.shape[1]
    center = np.zeros(d) if center is None else np.asarray(center, dtype=np.float64)
    check_shape("center", center.shape, (d,))
    with single_threaded_blas():
        work = n * K * (d * d if covariance_type == "full" else 2 * d)
        acc1, acc2 = _gmm.resp_stats(X, resp, _COV_CODE[covariance_type],
                                     np.ascontiguousarray(center, dtype=dtype),
                                     _gmm_tile(d, K), threads_for(work, n_threads))
    return _unpack_stats(covariance_type, K, d, acc1, acc2)
