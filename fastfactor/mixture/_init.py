"""Initial responsibilities of the EM: k-means, k-means++ seeds, random, or data points.

EM starts from the M-step of initial responsibilities; only their
sufficient statistics are formed (chunk by chunk, or from the chosen rows),
never the n_samples x n_components array.
"""
import numpy as np

from .. import kernels
from ._data import CHUNK_ENTRIES


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
        if init_params == "random_from_data":
            indices = random_state.choice(n, size=K, replace=False)
        else:
            _, indices = kernels.kmeans_plusplus(X, K, random_state=random_state,
                                                 n_threads=data.n_threads)
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
        centers, _ = kernels.kmeans_plusplus(X, K, random_state=random_state,
                                             n_threads=data.n_threads)
        labels = kernels.kmeans_lloyd(X, centers, n_threads=data.n_threads)[0]
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
