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
    "soft_threshold",
    "soft_threshold_grad",
    "lasso_cd_gram",
    "omp_gram",
    "fista_step",
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


# ---------------------------------------------------------------------------
# sparse coding
# ---------------------------------------------------------------------------
def _soft(z, thr, positive):
    if positive:
        return np.maximum(z - thr, 0.0)
    return np.sign(z) * np.maximum(np.abs(z) - thr, 0.0)


def soft_threshold(Z, threshold, positive=False, out=None, n_threads=None):
    """Reference for :func:`fastfactor.kernels.soft_threshold`."""
    Z = np.asarray(Z)
    thr = np.asarray(threshold, dtype=np.float64)
    res = _soft(Z.astype(np.float64), thr, positive).astype(Z.dtype)
    if out is not None:
        out[...] = res
        return out
    return res


def soft_threshold_grad(Z, grad_out, threshold, positive=False, n_threads=None):
    """Reference for :func:`fastfactor.kernels.soft_threshold_grad`."""
    Z = np.asarray(Z)
    z = Z.astype(np.float64)
    g = np.asarray(grad_out, dtype=np.float64)
    thr = np.asarray(threshold, dtype=np.float64)
    passed = z > thr if positive else np.abs(z) > thr
    grad_Z = np.where(passed, g, 0.0)
    grad_thr = -(grad_Z * np.sign(z)).sum(axis=0)
    return grad_Z.astype(Z.dtype), np.broadcast_to(grad_thr, (Z.shape[1],)).copy()


def _lasso_gaps(C, G, Q, y2, alpha, positive):
    """Duality gaps of 0.5||y - c D||^2 + alpha ||c||_1 per row, from G and Q = X D^T."""
    GC = C @ G
    R = Q - GC
    qc = (C * Q).sum(axis=1)
    R2 = y2 + (C * GC).sum(axis=1) - 2 * qc
    if alpha == 0:
        return (R ** 2).sum(axis=1)
    dual_norm = R.max(axis=1) if positive else np.abs(R).max(axis=1)
    scale = np.where(dual_norm > alpha, alpha / np.where(dual_norm > 0, dual_norm, 1), 1.0)
    primal = 0.5 * R2 + alpha * np.abs(C).sum(axis=1)
    dual = -0.5 * scale ** 2 * R2 + scale * (y2 - qc)
    return primal - dual


def lasso_cd_gram(code, gram, xd, x_sqnorms, alpha, max_iter=1000, tol=1e-8,
                  positive=False, return_info=False, n_threads=None):
    """Reference for :func:`fastfactor.kernels.lasso_cd_gram`.

    Plain cyclic coordinate descent over all coordinates, every signal at
    once (one column of ``code`` per step), until each signal's duality gap
    is <= tol * ||y||^2 after a sweep that moved it by <= tol (relative).
    """
    G = np.asarray(gram, dtype=np.float64)
    Q = np.asarray(xd, dtype=np.float64)
    y2 = np.asarray(x_sqnorms, dtype=np.float64)
    C = code.astype(np.float64)
    n, k = C.shape
    running = _lasso_gaps(C, G, Q, y2, alpha, positive) > tol * y2
    n_iter = np.zeros(n, dtype=np.intc)
    for _ in range(max_iter):
        if not running.any():
            break
        rows = np.flatnonzero(running)
        c = C[rows]
        old = c.copy()
        for j in range(k):
            if G[j, j] == 0:
                continue
            tmp = Q[rows, j] - c @ G[:, j] + c[:, j] * G[j, j]
            if positive:
                c[:, j] = np.maximum(tmp - alpha, 0) / G[j, j]
            else:
                c[:, j] = np.sign(tmp) * np.maximum(np.abs(tmp) - alpha, 0) / G[j, j]
        C[rows] = c
        n_iter[rows] += 1
        small = np.abs(c - old).max(axis=1) <= tol * np.abs(c).max(axis=1)
        gaps = _lasso_gaps(c, G, Q[rows], y2[rows], alpha, positive)
        running[rows[small & (gaps <= tol * y2[rows])]] = False
    code[...] = C.astype(code.dtype)
    if return_info:
        return n_iter, _lasso_gaps(C, G, Q, y2, alpha, positive)
    return None


def omp_gram(gram, xd, n_nonzero_coefs, x_sqnorms=None, tol=None, n_threads=None):
    """Reference for :func:`fastfactor.kernels.omp_gram` (least squares by solve)."""
    xd = np.asarray(xd)
    G = np.asarray(gram, dtype=np.float64)
    Q = np.asarray(xd, dtype=np.float64)
    n, k = Q.shape
    eps = np.finfo(xd.dtype).eps
    code = np.zeros((n, k))
    n_active = np.zeros(n, dtype=np.intc)
    for i in range(n):
        q = Q[i]
        support = []
        coef = np.zeros(0)
        res = q.copy()
        while len(support) < n_nonzero_coefs:
            lam = int(np.argmax(np.abs(res)))
            if lam in support or res[lam] ** 2 < eps:
                break
            trial = support + [lam]
            # the new atom must not depend on the chosen ones (Schur complement > eps)
            if support:
                w = np.linalg.solve(G[np.ix_(support, support)], G[support, lam])
                if G[lam, lam] - G[support, lam] @ w <= eps:
                    break
            support = trial
            coef = np.linalg.solve(G[np.ix_(support, support)], q[support])
            res = q - G[:, support] @ coef
            if tol is not None and x_sqnorms is not None:
                if abs(x_sqnorms[i] - 2 * coef @ q[support]
                       + coef @ G[np.ix_(support, support)] @ coef) <= tol:
                    break
        code[i, support] = coef
        n_active[i] = len(support)
    return code.astype(xd.dtype), n_active


def fista_step(code, momentum, grad, t, step, alpha, positive=False, n_threads=None):
    """Reference for :func:`fastfactor.kernels.fista_step` (in place)."""
    y = momentum.astype(np.float64)
    c_old = code.astype(np.float64)
    c_new = _soft(y - step * np.asarray(grad, dtype=np.float64), step * alpha, positive)
    change = np.zeros(code.shape[0])
    for i in range(code.shape[0]):
        if (y[i] - c_new[i]) @ (c_new[i] - c_old[i]) > 0:
            t[i], beta = 1.0, 0.0
        else:
            t_new = (1 + np.sqrt(1 + 4 * t[i] ** 2)) / 2
            t[i], beta = t_new, (t[i] - 1) / t_new
        d = c_new[i] - c_old[i]
        norm2 = c_new[i] @ c_new[i]
        change[i] = d @ d / norm2 if norm2 > 0 else d @ d
        # momentum is built from c_new as stored in code's dtype, as the kernel does
        cn = c_new[i].astype(code.dtype).astype(np.float64)
        momentum[i] = cn + beta * (cn - c_old[i])
        code[i] = cn
    return change
