"""The data matrix X of an NMF fit, dense or CSR, behind one interface.

The solvers only need a few products with X; this class picks the fastest
route for each storage (one-thread GEMMs split over the OpenMP threads for
dense, the parallel CSR kernels for sparse) and never densifies a sparse X
beyond one tile of rows.
"""
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from .. import kernels

EPSILON = np.finfo(np.float32).eps


class NMFData:
    """Validated X (C-contiguous ndarray or CSR with intp indices)."""

    def __init__(self, X, n_threads):
        self.X = X
        self.sparse = sp.issparse(X)
        self.shape = X.shape
        self.dtype = X.dtype
        self.n_threads = n_threads
        self._Xt = None

    @cached_property
    def sq_norm(self):
        """||X||_F^2, accumulated in float64 (computed on first use)."""
        values = (self.X.data if self.sparse else self.X).ravel(order="K")  # no copy
        values = values.astype(np.float64, copy=False)
        return float(np.dot(values, values))

    @property
    def Xt(self):
        """CSR of X.T (sparse X only), built once, with ``Xt.data == X.data[t_perm]``."""
        if self._Xt is None:
            X = self.X
            # carry each entry's position through the transpose to learn the permutation
            positions = sp.csr_matrix((np.arange(X.nnz, dtype=np.intp), X.indices, X.indptr),
                                      shape=X.shape)
            pt = sp.csr_matrix(positions.T)
            self.t_perm = np.ascontiguousarray(pt.data, dtype=np.intp)
            self._Xt = sp.csr_matrix((X.data[self.t_perm], pt.indices.astype(np.intp),
                                      pt.indptr.astype(np.intp)), shape=pt.shape)
        return self._Xt

    def with_values(self, values):
        """A CSR matrix with X's pattern and the given per-entry values."""
        return sp.csr_matrix((values, self.X.indices, self.X.indptr), shape=self.shape)

    def tdot_values(self, values, B):
        """(A.T @ B) where A has X's pattern and per-entry ``values`` (sparse X only)."""
        Xt = self.Xt
        At = sp.csr_matrix((values[self.t_perm], Xt.indices, Xt.indptr), shape=Xt.shape)
        return kernels.csr_matmul(At, B, n_threads=self.n_threads)

    def dot(self, B):
        """X @ B for B of shape (n, k)."""
        if self.sparse:
            return kernels.csr_matmul(self.X, B, n_threads=self.n_threads)
        return kernels.dense_matmul(self.X, B, n_threads=self.n_threads)

    def tdot(self, B):
        """X.T @ B for B of shape (m, k)."""
        if self.sparse:
            return kernels.csr_matmul(self.Xt, B, n_threads=self.n_threads)
        return kernels.dense_matmul(self.X, B, trans_a=True, n_threads=self.n_threads)

    def row_tiles(self, tile_elements=1 << 20):
        """Yield (slice, dense X rows) tiles of about ``tile_elements`` entries."""
        m, n = self.shape
        step = max(1, min(m, tile_elements // max(n, 1)))
        for start in range(0, m, step):
            rows = slice(start, min(start + step, m))
            tile = self.X[rows]
            if self.sparse:
                tile = tile.toarray()
            yield rows, tile

    def sampled_dot(self, W, Ht):
        """(W @ Ht.T) at the stored entries of a sparse X."""
        return kernels.sampled_dot(self.X, W, Ht, n_threads=self.n_threads)
