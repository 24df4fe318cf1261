"""X held in memory with what every EM pass over it shares (center, 'tied' scatter)."""
import numpy as np

from .. import kernels

# entries of one chunk of rows when 'tied' sums the data's scatter, or of
# streamed initial responsibilities (a few hundred KB of temporaries)
CHUNK_ENTRIES = 1 << 16


class GMMData:
    """X with what every EM pass shares: its center, and for 'tied' its scatter.

    The distributed counterpart is :class:`._dask.DaskGMMData`.
    """

    def __init__(self, X, covariance_type, n_threads):
        self.X = X
        self.n_samples = X.shape[0]
        self.n_threads = n_threads
        self.dtype = X.dtype
        # the kernels round the center to X's dtype; use the same value here
        self.center = X.mean(axis=0, dtype=np.float64).astype(X.dtype).astype(np.float64)
        # scikit-learn adds 10 * eps of the responsibilities' dtype (X's) to nk
        self.nk_eps = 10 * np.finfo(X.dtype).eps
        self.scatter = self.offset = None
        if covariance_type == "tied":
            # sum_i (x_i - c)(x_i - c).T and sum_i (x_i - c), once per fit: the
            # M-step of 'tied' needs no per-iteration second moments
            d = X.shape[1]
            self.scatter = np.zeros((d, d))
            self.offset = np.zeros(d)
            chunk = max(64, CHUNK_ENTRIES // d)
            for start in range(0, X.shape[0], chunk):
                Xc = X[start:start + chunk].astype(np.float64) - self.center
                self.scatter += Xc.T @ Xc
                self.offset += Xc.sum(axis=0)

    def em_stats(self, weights, means, prec_chol, covariance_type):
        """(log-likelihood total, Nk, s1, s2) of one fused E-step over X."""
        return kernels.gmm_em_step(self.X, weights, means, prec_chol, covariance_type,
                                   center=self.center, n_threads=self.n_threads)

    def rows(self, indices):
        """The rows of X at ``indices``."""
        return self.X[indices]
