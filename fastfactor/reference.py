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
    "gmm_em_step",
    "gmm_estimate",
    "gmm_resp_stats",
    "kmeans_plusplus",
    "kmeans_lloyd",
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
    from ._validation import check_random_state

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
