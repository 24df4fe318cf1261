"""Plain-numpy twins of every kernel in :mod:`fastfactor.kernels`.

Same names, same signatures, same results to rounding; written to be
obviously correct rather than fast. The test-suite and ``fastfactor
selftest`` compare each kernel with its twin.
"""
import numpy as np
import scipy.sparse as sp

from .kernels import __all__ as _kernel_names

EPSILON = np.finfo(np.float32).eps

# One twin per kernel, under the kernel's name.
__all__ = list(_kernel_names)


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


def mu_beta_products(X, W, Ht, beta, for_H=False, tile_rows=None, n_threads=None):
    """Reference for :func:`fastfactor.kernels.mu_beta_products` (whole m x n arrays)."""
    W = np.asarray(W)
    dtype = np.float32 if W.dtype == np.float32 else np.float64
    W64, Ht64 = W.astype(np.float64), np.asarray(Ht, dtype=np.float64)
    num_terms, pow_terms = mu_beta_terms(X, W64 @ Ht64.T, beta, want_pow=beta != 1)
    other = W64 if for_H else Ht64
    if for_H:
        num_terms = num_terms.T
        pow_terms = None if pow_terms is None else pow_terms.T
    num = (num_terms @ other).astype(dtype)
    den = None if pow_terms is None else (pow_terms @ other).astype(dtype)
    return num, den


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


def dense_matmul(A, B, trans_a=False, n_threads=None):
    """Reference for :func:`fastfactor.kernels.dense_matmul`."""
    A, B = np.asarray(A), np.asarray(B)
    dtype = np.float32 if A.dtype == B.dtype == np.float32 else np.float64
    A64 = A.astype(np.float64)
    return ((A64.T if trans_a else A64) @ B.astype(np.float64)).astype(dtype)


def csr_matmul(A, B, n_threads=None):
    """Reference for :func:`fastfactor.kernels.csr_matmul`."""
    B = np.asarray(B)
    dtype = np.float32 if B.dtype == np.float32 else np.float64
    A = sp.csr_matrix(A).astype(np.float64)
    return np.asarray(A @ B.astype(np.float64)).astype(dtype)




# ---------------------------------------------------------------- Gaussian mixtures

def _gmm_weighted_log_prob(X, weights, means, precisions_cholesky, covariance_type):
    """log w_k + log N(x_i | mu_k, Sigma_k), as an (n, K) float64 array."""
    X = np.asarray(X, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    pc = np.asarray(precisions_cholesky, dtype=np.float64)
    n, d = X.shape
    K = means.shape[0]
    out = np.empty((n, K))
    for k in range(K):
        diff = X - means[k]
        if covariance_type == "full":
            y, logdet = diff @ pc[k], np.log(np.diag(pc[k])).sum()
        elif covariance_type == "tied":
            y, logdet = diff @ pc, np.log(np.diag(pc)).sum()
        elif covariance_type == "diag":
            y, logdet = diff * pc[k], np.log(pc[k]).sum()
        else:
            y, logdet = diff * pc[k], d * np.log(pc[k])
        out[:, k] = -0.5 * (d * np.log(2 * np.pi) + (y ** 2).sum(axis=1)) + logdet
    with np.errstate(divide="ignore"):
        return out + np.log(np.asarray(weights, dtype=np.float64))


def _gmm_log_resp(X, weights, means, precisions_cholesky, covariance_type):
    from scipy.special import logsumexp

    wlp = _gmm_weighted_log_prob(X, weights, means, precisions_cholesky, covariance_type)
    lpn = logsumexp(wlp, axis=1)
    return wlp, lpn, wlp - lpn[:, None]


def _gmm_sums(X, resp, covariance_type, centers):
    """nk, s1, s2 of :func:`gmm_em_step` around ``centers`` (K, d)."""
    X = np.asarray(X, dtype=np.float64)
    K = resp.shape[1]
    nk = resp.sum(axis=0)
    s1 = np.array([resp[:, k] @ (X - centers[k]) for k in range(K)])
    if covariance_type == "diag":
        s2 = np.array([resp[:, k] @ (X - centers[k]) ** 2 for k in range(K)])
    elif covariance_type == "spherical":
        s2 = np.array([resp[:, k] @ ((X - centers[k]) ** 2).sum(axis=1) for k in range(K)])
    elif covariance_type == "tied":
        s2 = None
    else:
        s2 = np.array([(resp[:, k] * (X - centers[k]).T) @ (X - centers[k])
                       for k in range(K)])
    return nk, s1, s2


def _round_to(a, X):
    dtype = np.float32 if np.asarray(X).dtype == np.float32 else np.float64
    return np.asarray(a, dtype=np.float64).astype(dtype).astype(np.float64)


def gmm_em_step(X, weights, means, precisions_cholesky, covariance_type, center=None,
                n_threads=None):
    """Reference for :func:`fastfactor.kernels.gmm_em_step` (n x K arrays)."""
    d = np.shape(X)[1]
    means = _round_to(means, X)
    center = _round_to(np.zeros(d) if center is None else center, X)
    _, lpn, log_resp = _gmm_log_resp(X, weights, means, precisions_cholesky,
                                     covariance_type)
    K = means.shape[0]
    centers = means if covariance_type == "full" else np.tile(center, (K, 1))
    return (float(lpn.sum()),) + _gmm_sums(X, np.exp(log_resp), covariance_type, centers)


def gmm_estimate(X, weights, means, precisions_cholesky, covariance_type, output="score",
                 center=None, n_threads=None):
    """Reference for :func:`fastfactor.kernels.gmm_estimate`."""
    wlp, lpn, log_resp = _gmm_log_resp(X, weights, _round_to(means, X),
                                       precisions_cholesky, covariance_type)
    if output == "labels":
        return lpn, wlp.argmax(axis=1)
    if output == "proba":
        dtype = np.float32 if np.asarray(X).dtype == np.float32 else np.float64
        return lpn, np.exp(log_resp).astype(dtype)
    return lpn, None


def gmm_resp_stats(X, resp, covariance_type, center=None, n_threads=None):
    """Reference for :func:`fastfactor.kernels.gmm_resp_stats`."""
    d = np.shape(X)[1]
    resp = np.asarray(resp, dtype=np.float64)
    center = _round_to(np.zeros(d) if center is None else center, X)
    return _gmm_sums(X, resp, covariance_type, np.tile(center, (resp.shape[1], 1)))



# ---------------------------------------------------------------------------- k-means

def _sq_distances(X, C):
    """(n, m) squared distances, float64, by explicit differences."""
    X = np.asarray(X, dtype=np.float64)
    C = np.asarray(C, dtype=np.float64)
    return ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)


def kmeans_plusplus(X, n_clusters, random_state=None, n_local_trials=None, n_threads=None):
    """Reference for :func:`fastfactor.kernels.kmeans_plusplus`."""
    from ._utils.validation import check_random_state

    X = np.asarray(X)
    rng = check_random_state(random_state)
    n = X.shape[0]
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    weight = np.ones(n, dtype=X.dtype)
    indices = [int(rng.choice(n, p=weight / weight.sum()))]
    closest = _sq_distances(X, X[indices[:1]])[:, 0]
    pot = closest.sum()
    for _ in range(1, n_clusters):
        rand_vals = rng.uniform(size=n_local_trials) * pot
        cand = np.clip(np.searchsorted(np.cumsum(closest), rand_vals), None, n - 1)
        dist = np.minimum(closest[:, None], _sq_distances(X, X[cand]))
        pots = dist.sum(axis=0)
        best = int(np.argmin(pots))
        pot, closest = pots[best], dist[:, best]
        indices.append(int(cand[best]))
    indices = np.asarray(indices)
    return X[indices], indices


def kmeans_lloyd(X, centers_init, max_iter=300, tol=1e-4, n_threads=None):
    """Reference for :func:`fastfactor.kernels.kmeans_lloyd`."""
    X = np.asarray(X)
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    Xd = X.astype(np.float64)
    K = np.shape(centers_init)[0]
    tol = float(np.mean(Xd.var(axis=0))) * tol if tol else 0.0
    centers = np.asarray(centers_init, dtype=np.float64).astype(dtype).astype(np.float64)
    labels = np.full(X.shape[0], -1)
    strict = False
    for it in range(max_iter):
        dist_all = _sq_distances(X, centers)
        new_labels = dist_all.argmin(axis=1)
        dist = dist_all[np.arange(X.shape[0]), new_labels]
        counts = np.bincount(new_labels, minlength=K).astype(np.float64)
        sums = np.zeros((K, X.shape[1]))
        np.add.at(sums, new_labels, Xd)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            far = np.argpartition(dist, -empty.size)[:-empty.size - 1:-1]
            for new_id, idx in zip(empty, far):
                sums[new_labels[idx]] -= Xd[idx]
                sums[new_id] = Xd[idx]
                counts[new_labels[idx]] -= 1
                counts[new_id] = 1
        new_centers = centers.copy()
        nonempty = counts > 0
        new_centers[nonempty] = sums[nonempty] / counts[nonempty, None]
        new_centers[~nonempty] = sums[~nonempty]
        new_centers = new_centers.astype(dtype).astype(np.float64)
        shift = float(((new_centers - centers) ** 2).sum())
        centers = new_centers
        changed = not np.array_equal(new_labels, labels)
        labels = new_labels
        if not changed:
            strict = True
            break
        if shift <= tol:
            break
    dist_all = _sq_distances(X, centers)
    if not strict:
        labels = dist_all.argmin(axis=1)
    inertia = float(dist_all.min(axis=1).sum())
    return labels.astype(np.int32), inertia, centers.astype(dtype), it + 1



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
