"""Gaussian-mixture EM on a row-chunked ``dask.array``.

Each E-step runs the fused kernel (:func:`fastfactor.kernels.gmm_em_step`)
on every row block where the block lives and returns only the sufficient
statistics (the log-likelihood total, ``Nk``, ``r^T (X - c)`` and the second
moments, K x d x d at most); the client fetches them and adds them in group
order (a tree of tasks beyond eight groups), and the M-step runs there.
Responsibilities never leave their block. The same parameters give the same
statistics as the single-machine pass, to rounding.

The tasks are submitted on futures (:class:`fastfactor._utils.dask.BlockRunner`):
X's blocks are computed once and kept on the workers, and an EM iteration
is one task per worker thread (over the blocks its worker holds, summing
their statistics in block order) and one wait, with no dask graph
built or optimized per iteration. A worker that dies loses only blocks the
scheduler can recompute (from X's graph) and E-step results it reruns, so
the fit goes on with the same numbers.
"""
import numpy as np

from .. import kernels
from .._utils.dask import TOTAL, BlockRunner, block_task, prepare


def _block_moments(X_i):
    X_i = np.asarray(X_i)
    return (np.array(X_i.shape[0], dtype=np.float64), X_i.sum(axis=0, dtype=np.float64),
            np.array(float(np.isfinite(X_i).all())))


def _block_scatter(X_i, center):
    Xc = np.asarray(X_i, dtype=np.float64) - center
    return Xc.T @ Xc, Xc.sum(axis=0)


@block_task
def _block_em(X_i, params, covariance_type, center, n_threads):
    weights, means, prec_chol = params
    stats = kernels.gmm_em_step(np.ascontiguousarray(X_i), weights, means, prec_chol,
                                covariance_type, center=center, n_threads=n_threads)
    # (total, nk, s1, s2); s2 is None for 'tied', and the tree sum needs arrays
    return tuple(np.zeros(1) if s is None else np.asarray(s) for s in stats)


class DaskGMMData:
    """The distributed counterpart of :class:`._data.GMMData`: center, scatter, EM passes.

    ``X`` below is a stand-in with the shape and dtype of the data (what the
    M-step looks at); the rows stay in their blocks on the workers.
    ``n_threads`` is resolved by each worker (None: its OpenMP setting).
    """

    def __init__(self, X, covariance_type, n_threads):
        X, _ = prepare(X)
        self.dask_X = X
        self.runner = run = BlockRunner(X)
        self.X = np.empty((0, X.shape[1]), dtype=X.dtype)  # shape/dtype stand-in
        self.n_samples = X.shape[0]
        self.n_threads = n_threads
        self.dtype = X.dtype
        n, total, finite = self._sum(_block_moments)
        if finite < len(run.blocks):
            raise ValueError("Input X contains NaN or infinity.")
        self.center = (total / n).astype(X.dtype).astype(np.float64)
        self.nk_eps = 10 * np.finfo(X.dtype).eps
        self.scatter = self.offset = None
        if covariance_type == "tied":
            self.scatter, self.offset = self._sum(_block_scatter, self.center)

    def _sum(self, fn, *shared):
        """The sum over blocks of ``fn(X_i, *shared)`` (tuples of arrays), in one wait."""
        run = self.runner
        parts = run.map_groups(fn, run.blocks, shared=shared, total=True, keep=False)
        return run.gather_sum(parts, pick=TOTAL)

    def rows(self, indices):
        """The rows at ``indices`` (for initialisations that pick data points)."""
        return np.asarray(self.dask_X[np.asarray(indices)].compute())

    def em_stats(self, weights, means, prec_chol, covariance_type):
        """Summed (log-likelihood total, Nk, s1, s2) of one E-step over every block."""
        params = self.runner.share((weights, means, prec_chol))
        total, nk, s1, s2 = self._sum(_block_em, params, covariance_type, self.center,
                                      self.n_threads)
        return float(total), nk, s1, s2
