"""Plain-numpy twins of every kernel in :mod:`fastfactor.kernels`.

Same names, same signatures, same results to rounding; written to be
obviously correct rather than fast. The test-suite and ``fastfactor
selftest`` compare each kernel with its twin.
"""
import numpy as np
import scipy.sparse as sp

EPSILON = np.finfo(np.float32).eps

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


def hals_update(W, XHt, HHt, permutation=None, max_inner=1, inner_tol=0.0, n_threads=None):
    """Reference for :func:`fastfactor.kernels.hals_update` (row by row, in place)."""
    k = W.shape[1]
    perm = np.arange(k) if permutation is None else np.asarray(permutation)
    XHt = np.asarray(XHt, dtype=np.float64)
    HHt = np.asarray(HHt, dtype=np.float64)
    violation = 0.0
    for i in range(W.shape[0]):
        w = W[i].astype(np.float64)
        first_change = 0.0
        for sweep in range(max_inner):
            change = 0.0
            for t in perm:
                grad = HHt[t] @ w - XHt[i, t]
                if sweep == 0:
                    violation += 0.0 if (w[t] == 0 and grad > 0) else abs(grad)
                if HHt[t, t] != 0:
                    new = max(w[t] - grad / HHt[t, t], 0.0)
                    change += (new - w[t]) ** 2
                    # round through W's dtype, as the kernel stores it
                    w[t] = W.dtype.type(new)
            if sweep == 0:
                first_change = change
                if first_change == 0:
                    break
            elif change <= inner_tol * first_change:
                break
        W[i] = w
    return violation


def mu_update(W, numerator, denominator, l1_reg=0.0, l2_reg=0.0, gamma=1.0,
              zero_below=0.0, n_threads=None):
    """Reference for :func:`fastfactor.kernels.mu_update` (in place)."""
    den = np.broadcast_to(np.asarray(denominator, dtype=np.float64), W.shape).copy()
    if l1_reg > 0:
        den += l1_reg
    if l2_reg > 0:
        den += l2_reg * W
    den[den == 0] = EPSILON
    ratio = np.asarray(numerator, dtype=np.float64) / den
    if gamma != 1:
        ratio **= gamma
    W *= ratio.astype(W.dtype)
    W[W < zero_below] = 0


def mu_beta_terms(X, WH, beta, want_pow=False, out=None, n_threads=None):
    """Reference for :func:`fastfactor.kernels.mu_beta_terms`."""
    WH = np.asarray(WH)
    wh = WH.astype(np.float64)
    x = np.asarray(X, dtype=np.float64)
    pow_terms = None
    if want_pow:
        floored = np.maximum(wh, EPSILON) if beta < 1 else wh
        pow_terms = (floored ** (beta - 1)).astype(WH.dtype)
    floored = np.maximum(wh, EPSILON) if beta < 2 else wh
    num = (x * floored ** (beta - 2)).astype(WH.dtype)
    if out is not None:
        out[...] = num
        num = out
    return num, pow_terms


def beta_divergence_dense(X, WH, beta, n_threads=None):
    """Reference for :func:`fastfactor.kernels.beta_divergence_dense`."""
    if beta == 2:
        raise ValueError("beta_divergence_dense is for beta != 2; got beta=2")
    x = np.asarray(X, dtype=np.float64).ravel()
    wh_all = np.asarray(WH, dtype=np.float64).ravel()
    keep = x > EPSILON
    x, wh = x[keep], np.maximum(wh_all[keep], EPSILON)
    if beta == 1:
        return float(np.sum(x * np.log(x / wh)) - x.sum() + wh_all.sum())
    if beta == 0:
        div = x / wh
        return float(np.sum(div) - wh_all.size - np.sum(np.log(div)))
    res = np.sum(x ** beta) - beta * np.sum(x * wh ** (beta - 1))
    res += (beta - 1) * np.sum(wh_all ** beta)
    return float(res / (beta * (beta - 1)))


def sampled_dot(X, W, Ht, n_threads=None):
    """Reference for :func:`fastfactor.kernels.sampled_dot`."""
    X = sp.csr_matrix(X)
    X.sum_duplicates()
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    W = np.asarray(W)
    prod = np.einsum("pk,pk->p", W[rows].astype(np.float64),
                     np.asarray(Ht)[X.indices].astype(np.float64))
    return prod.astype(W.dtype)


def csr_matmul(A, B, n_threads=None):
    """Reference for :func:`fastfactor.kernels.csr_matmul`."""
    B = np.asarray(B)
    dtype = np.float32 if B.dtype == np.float32 else np.float64
    A = sp.csr_matrix(A).astype(np.float64)
    return np.asarray(A @ B.astype(np.float64)).astype(dtype)


# --------------------------------------------------------------- masked NMF

def _observed_dense(X_obs):
    """(values, mask) as dense float64 / bool arrays from the CSR of observed entries."""
    X_obs = sp.csr_matrix(X_obs)
    rows = np.repeat(np.arange(X_obs.shape[0]), np.diff(X_obs.indptr))
    values = np.zeros(X_obs.shape)
    mask = np.zeros(X_obs.shape, dtype=bool)
    values[rows, X_obs.indices] = X_obs.data
    mask[rows, X_obs.indices] = True
    return values, mask


def masked_hals_update(W, X_obs, Ht, permutation=None, max_inner=1, inner_tol=0.0,
                       l1_reg=0.0, l2_reg=0.0, missing=None, n_threads=None):
    """Reference for :func:`fastfactor.kernels.masked_hals_update` (in place)."""
    values, mask = _observed_dense(X_obs)
    Ht64 = np.asarray(Ht, dtype=np.float64)
    k = W.shape[1]
    violation = 0.0
    for i in range(W.shape[0]):
        H_obs = Ht64[mask[i]]                       # observed columns of row i
        gram = H_obs.T @ H_obs + l2_reg * np.eye(k)
        xht = values[i, mask[i]] @ H_obs - l1_reg
        row = W[i:i + 1]                            # a view: updated in place
        violation += hals_update(row, xht[None, :], gram, permutation, max_inner,
                                 inner_tol)
    return violation


def masked_mu_terms(X_obs, W, Ht, beta, n_threads=None):
    """Reference for :func:`fastfactor.kernels.masked_mu_terms`."""
    values, mask = _observed_dense(X_obs)
    W = np.asarray(W)
    Ht64 = np.asarray(Ht, dtype=np.float64)
    wh = W.astype(np.float64) @ Ht64.T
    if beta == 2:
        num_terms, den_terms = values, wh
    else:
        num_terms = values * np.maximum(wh, EPSILON) ** (beta - 2)
        den_terms = (np.maximum(wh, EPSILON) if beta < 1 else wh) ** (beta - 1)
    num = np.where(mask, num_terms, 0.0) @ Ht64
    den = np.where(mask, den_terms, 0.0) @ Ht64
    return num.astype(W.dtype), den.astype(W.dtype)


def masked_beta_divergence(X_obs, W, Ht, beta, n_threads=None):
    """Reference for :func:`fastfactor.kernels.masked_beta_divergence`."""
    values, mask = _observed_dense(X_obs)
    x = values[mask]
    wh = (np.asarray(W, dtype=np.float64) @ np.asarray(Ht, dtype=np.float64).T)[mask]
    if beta == 2:
        return float(0.5 * np.sum((x - wh) ** 2))
    keep = x > EPSILON
    xk, whk = x[keep], np.maximum(wh[keep], EPSILON)
    if beta == 1:
        return float(np.sum(xk * np.log(xk / whk)) - xk.sum() + wh.sum())
    if beta == 0:
        return float(np.sum(xk / whk - np.log(xk / whk)) - x.size)
    res = np.sum(xk ** beta) - beta * np.sum(xk * whk ** (beta - 1))
    res += (beta - 1) * np.sum(wh ** beta)
    return float(res / (beta * (beta - 1)))
