"""Gaussian-mixture EM on a row-chunked ``dask.array``.

Each E-step runs the fused kernel (:func:`fastfactor.kernels.gmm_em_step`)
on every row block where the block lives and returns only the sufficient
statistics (the log-likelihood total, ``Nk``, ``r^T (X - c)`` and the second
moments, K x d x d at most); they are summed in a tree and the M-step runs on
the client. Responsibilities never leave their block. The same parameters
give the same statistics as the single-machine pass, to rounding.
"""
import numpy as np

from . import kernels
from ._dask import prepare, tree_sum


def _block_moments(X_i):
    X_i = np.asarray(X_i)
    return (np.array(X_i.shape[0], dtype=np.float64), X_i.sum(axis=0, dtype=np.float64),
            np.array(float(np.isfinite(X_i).all())))


def _block_scatter(X_i, center):
    Xc = np.asarray(X_i, dtype=np.float64) - center
    return Xc.T @ Xc, Xc.sum(axis=0)


def _block_em(X_i, weights, means, prec_chol, covariance_type, center, n_threads):
    return kernels.gmm_em_step(np.ascontiguousarray(X_i), weights, means, prec_chol,
                               covariance_type, center=center, n_threads=n_threads)


class DaskGMMData:
    """The distributed counterpart of ``mixture._Data``: center, scatter, and EM passes.

    ``X`` below is a stand-in with the shape and dtype of the data (what the
    M-step looks at); the rows stay in their dask blocks.
    """

    def __init__(self, X, covariance_type, n_threads):
        import dask

        X, _ = prepare(X)
        self.dask = dask
        self.dask_X = X
        self.blocks = list(X.to_delayed().ravel())
        self.X = np.empty((0, X.shape[1]), dtype=X.dtype)  # shape/dtype stand-in
        self.n_samples = X.shape[0]
        self.n_threads = n_threads
        self.dtype = X.dtype
        n, total, finite = dask.compute(tree_sum(dask, [dask.delayed(_block_moments)(b)
                                                       for b in self.blocks]))[0]
        if finite < len(self.blocks):
            raise ValueError("Input X contains NaN or infinity.")
        self.center = (total / n).astype(X.dtype).astype(np.float64)
        self.nk_eps = 10 * np.finfo(X.dtype).eps
        self.scatter = self.offset = None
        if covariance_type == "tied":
            self.scatter, self.offset = dask.compute(tree_sum(dask, [
                dask.delayed(_block_scatter)(b, self.center) for b in self.blocks]))[0]

    def rows(self, indices):
        """The rows at ``indices`` (for initialisations that pick data points)."""
        return np.asarray(self.dask_X[np.asarray(indices)].compute())

    def em_stats(self, weights, means, prec_chol, covariance_type):
        """Summed (log-likelihood total, Nk, s1, s2) of one E-step over every block."""
        shared = [self.dask.delayed(a, pure=True) for a in (weights, means, prec_chol)]
        parts = [self.dask.delayed(_block_em)(b, *shared, covariance_type, self.center,
                                             self.n_threads) for b in self.blocks]
        total, nk, s1, s2 = self.dask.compute(tree_sum(self.dask, [
            self.dask.delayed(_as_tuple)(p) for p in parts]))[0]
        return float(total), nk, s1, s2


def _as_tuple(stats):
    # kernels.gmm_em_step returns (total, nk, s1, s2); s2 may be None ('tied')
    return tuple(np.zeros(1) if s is None else np.asarray(s) for s in stats)
