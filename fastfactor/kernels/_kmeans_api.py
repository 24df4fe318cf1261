"""Kernels of k-means (the Gaussian mixtures' initialization): k-means++ and Lloyd."""
import numpy as np

from .._utils.threads import single_threaded_blas, threads_for
from .._utils.validation import check_random_state
from ._checks import as_c, check_shape, float_dtype
from ._dispatch import kmeans as _kmeans

__all__ = ["kmeans_plusplus", "kmeans_lloyd"]

_KMEANS_TILE = 256


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
    X = as_c(X, float_dtype(X), "X")
    n = X.shape[0]
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be in [1, {n}], got {n_clusters}")
    rng = check_random_state(random_state)
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    n_threads = threads_for(n * X.shape[1] * n_local_trials, n_threads)
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
    dtype = float_dtype(X)
    X = as_c(X, dtype, "X")
    centers_init = as_c(centers_init, np.float64, "centers_init")
    n, d = X.shape
    K = centers_init.shape[0]
    check_shape("centers_init", centers_init.shape, (K, d))
    n_threads = threads_for(n * K * d, n_threads)
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
