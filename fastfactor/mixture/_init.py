"""Initial responsibilities of the EM: k-means, k-means++ seeds, random, or data points.

EM starts from the M-step of initial responsibilities; only their
sufficient statistics are formed (chunk by chunk, or from the chosen rows),
never the n_samples x n_components array.
"""
import numpy as np

from .. import kernels
from ._data import CHUNK_ENTRIES


def _seed_rows(X, n_samples, init_params, n_components, random_state, n_threads):
    """The row of each component ('random_from_data': at random; 'k-means++': its seeds)."""
    if init_params == "random_from_data":
        return random_state.choice(n_samples, size=n_components, replace=False)
    return kernels.kmeans_plusplus(X, n_components, random_state=random_state,
                                   n_threads=n_threads)[1]


def _kmeans_labels(X, n_components, random_state, n_threads):
    """k-means labels from k-means++ seeds (this package's k-means, as scikit-learn's KMeans)."""
    centers, _ = kernels.kmeans_plusplus(X, n_components, random_state=random_state,
                                         n_threads=n_threads)
    return kernels.kmeans_lloyd(X, centers, n_threads=n_threads)[0]


def initial_resp(X, init_params, n_components, random_state, n_threads=None):
    """The initial responsibilities as an (n_samples, n_components) array, in X's dtype.

    The same responsibilities (and random stream) as :func:`initial_stats`
    sums, and as scikit-learn's ``_initialize_parameters`` forms; for the
    step-by-step EM, which hands them to ``_initialize(X, resp)``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}
    n_components : int
    random_state : numpy.random.RandomState
    n_threads : int, optional

    Returns
    -------
    resp : ndarray of shape (n_samples, n_components)
        One-hot rows ('kmeans'), one row per component and zeros elsewhere
        ('k-means++', 'random_from_data'), or random rows summing to one.
    """
    n, K = X.shape[0], n_components
    if init_params == "random":
        resp = random_state.uniform(size=(n, K)).astype(X.dtype)
        resp /= resp.sum(axis=1)[:, None]
        return resp
    resp = np.zeros((n, K), dtype=X.dtype)
    if init_params == "kmeans":
        resp[np.arange(n), _kmeans_labels(X, K, random_state, n_threads)] = 1
    else:
        resp[_seed_rows(X, n, init_params, K, random_state, n_threads), np.arange(K)] = 1
    return resp


def initial_stats(data, init_params, n_components, covariance_type, random_state):
    """Sufficient statistics (around the data center) of the initial responsibilities.

    Parameters
    ----------
    data : GMMData or DaskGMMData
        The data and its center.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}
    n_components : int
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    random_state : numpy.random.RandomState

    Returns
    -------
    nk, s1, s2
        As :func:`fastfactor.kernels.gmm_resp_stats` returns them; for
        'tied', ``s2`` is the matrix M of :func:`._m_step._estimate_parameters`.
    """
    X = data.X
    n, K, cov = data.n_samples, n_components, covariance_type
    kw = dict(center=data.center, n_threads=data.n_threads)
    if getattr(data, "dask_X", None) is not None and init_params != "random_from_data":
        raise ValueError(
            f"init_params={init_params!r} is not available for a dask array X yet; "
            "use init_params='random_from_data', or give means_init, weights_init and "
            "precisions_init.")
    if init_params in ("random_from_data", "k-means++"):
        indices = _seed_rows(X, n, init_params, K, random_state, data.n_threads)
        chosen_rows = data.rows(indices)
        # one-hot responsibilities: only these rows count
        nk, s1, s2 = kernels.gmm_resp_stats(chosen_rows, np.eye(K, dtype=X.dtype), cov,
                                            **kw)
        if cov == "tied":
            # the other rows have responsibilities summing to 0, not 1: M
            # (see _m_step._estimate_parameters) is X.T X minus their own x x.T
            # plus their scatter around c
            c, off = data.center, data.offset
            chosen = chosen_rows.astype(np.float64)
            Xc = chosen - c
            s2 = (data.scatter + np.outer(c, off) + np.outer(off, c) + n * np.outer(c, c)
                  - chosen.T @ chosen + Xc.T @ Xc)
        return nk, s1, s2
    if init_params == "kmeans":
        labels = _kmeans_labels(X, K, random_state, data.n_threads)
    totals = None
    chunk = max(64, CHUNK_ENTRIES // K)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        if init_params == "kmeans":
            resp = np.zeros((stop - start, K), dtype=X.dtype)
            resp[np.arange(stop - start), labels[start:stop]] = 1
        else:  # 'random': the same stream as one (n, K) draw
            resp = random_state.uniform(size=(stop - start, K)).astype(X.dtype)
            resp /= resp.sum(axis=1)[:, None]
        part = kernels.gmm_resp_stats(X[start:stop], resp, cov, **kw)
        totals = list(part) if totals is None else [
            None if a is None else a + b for a, b in zip(totals, part)]
    if cov == "tied":  # every row's responsibilities sum to one
        totals[2] = data.scatter
    return tuple(totals)
