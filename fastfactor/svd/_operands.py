"""The in-memory operand: M, a dense ndarray or a CSR matrix, for the sketch driver.

An operand is everything :func:`fastfactor.svd._sketch.sketch_svd` needs
from M: ``shape``, ``dtype``, ``sketch_dtype`` and ``sq_norm``; the products
``matmul(B) = M @ B`` and ``rmatmul(Y) = M^T @ Y`` in the working dtype and,
through ``sketch``, in the sketch dtype; ``gaussian(rng, width)``, the test
matrix; and ``rows`` / ``cols``, the :class:`~fastfactor.svd._side.Side` of
the pieces with M's rows and with M's columns. The Dask operand
(``fastfactor.svd._dask.DaskOperand``) is the same for row blocks.

Sparse M is never densified: the float32 sketch uses scipy's products, the
final float64 pass the parallel :func:`fastfactor.kernels.csr_matmul`.
"""
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from .. import kernels
from ._side import DenseSide


def csr_transpose(X):
    """CSR of ``X.T`` with intp indices (what the kernels read without converting)."""
    Xt = X.T.tocsr()
    Xt.indices = Xt.indices.astype(np.intp, copy=False)
    Xt.indptr = Xt.indptr.astype(np.intp, copy=False)
    return Xt


class DenseProducts:
    """``M @ B`` and ``M^T @ B`` of a dense M by :func:`fastfactor.kernels.dense_matmul`."""

    def __init__(self, M, n_threads):
        # the kernel reads a C-contiguous M: a transposed view is copied once
        # here rather than at every product
        self.M = np.ascontiguousarray(M)
        self.n_threads = n_threads

    def matmul(self, B):
        return kernels.dense_matmul(self.M, B, n_threads=self.n_threads)

    def rmatmul(self, B):
        return kernels.dense_matmul(self.M, B, trans_a=True, n_threads=self.n_threads)


class CsrProducts:
    """``M @ B`` and ``M^T @ B`` of a CSR M by :func:`fastfactor.kernels.csr_matmul`.

    The kernel accumulates every row in float64; ``M^T`` is built once, on
    first use.
    """

    def __init__(self, M, n_threads):
        self.M = M
        self.n_threads = n_threads

    @cached_property
    def Mt(self):
        return csr_transpose(self.M)

    def matmul(self, B):
        return kernels.csr_matmul(self.M, B, n_threads=self.n_threads)

    def rmatmul(self, B):
        return kernels.csr_matmul(self.Mt, B, n_threads=self.n_threads)


class ScipyCsrProducts:
    """Products of a CSR M by scipy (used for the float32 sketch).

    Measured on the 2-core machine, scipy's serial float32 CSR products beat
    :func:`fastfactor.kernels.csr_matmul`, which accumulates every row in
    float64 (right for the final pass, wasted on a sketch); ``M.T @ Y``
    runs on the CSR arrays directly, without a transposed copy.
    """

    def __init__(self, M):
        self.M = M

    def matmul(self, B):
        return np.asarray(self.M @ B)

    def rmatmul(self, B):
        return np.asarray(self.M.T @ B)


def matrix_products(M, n_threads=None):
    """The kernel products of a validated M (C-contiguous ndarray or CSR with intp indices)."""
    return CsrProducts(M, n_threads) if sp.issparse(M) else DenseProducts(M, n_threads)


class InMemoryOperand:
    """A validated M (ndarray or CSR with intp indices), with a copy in the sketch dtype.

    The sketch copy is made once, only when its dtype differs.
    """

    def __init__(self, M, sketch_dtype, n_threads=None):
        self.M = M
        self.shape = M.shape
        self.dtype = M.dtype
        self.sketch_dtype = np.dtype(sketch_dtype)
        self.rows = DenseSide(M.shape[0])
        self.cols = DenseSide(M.shape[1])
        self.products = matrix_products(M, n_threads)
        if sp.issparse(M):
            self.sketch = ScipyCsrProducts(M.astype(sketch_dtype, copy=False))
        elif self.sketch_dtype == M.dtype:
            self.sketch = self.products
        else:
            self.sketch = DenseProducts(M.astype(sketch_dtype, order="C"), n_threads)

    def matmul(self, B):
        return self.products.matmul(B)

    def rmatmul(self, B):
        return self.products.rmatmul(B)

    @cached_property
    def sq_norm(self):
        """||M||_F^2, accumulated in float64 (computed on first use)."""
        values = (self.M.data if sp.issparse(self.M) else self.M).ravel(order="K")  # no copy
        values = values.astype(np.float64, copy=False)
        return float(np.dot(values, values))

    def gaussian(self, rng, width):
        """The test matrix ``rng.standard_normal((M.shape[0], width))``, in the sketch dtype."""
        return rng.standard_normal(size=(self.shape[0], width)).astype(self.sketch_dtype,
                                                                       copy=False)


def smaller_side_gram(M):
    """The float64 Gram matrix of M's smaller side (``M^T M`` or ``M M^T``), dense."""
    A = M.astype(np.float64)
    if M.shape[0] < M.shape[1]:
        A = A.T
    G = A.T @ A
    if sp.issparse(G):
        G = G.toarray()
    return G
