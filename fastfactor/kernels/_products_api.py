"""Sparse-times-dense and dense products, parallel over the rows of the result."""
import numpy as np

from .._utils.threads import single_threaded_blas, threads_for
from ._checks import as_c, csr, float_dtype
from ._dispatch import dense_products as _dense_products
from ._dispatch import sparse_products as _sparse_products

__all__ = ["csr_matmul", "dense_matmul"]


def csr_matmul(A, B, n_threads=None):
    """Sparse-times-dense product ``A @ B``, parallel over the rows of A.

    Parameters
    ----------
    A : scipy.sparse matrix of shape (m, n)
    B : array-like of shape (n, k)
    n_threads : int, optional

    Returns
    -------
    ndarray of shape (m, k)
        In B's dtype (float32 stays float32; sums are accumulated in float64).
    """
    B = np.asarray(B)
    dtype = float_dtype(B)
    B = as_c(B, dtype, "B")
    data, indices, indptr, shape = csr(A, dtype, "A")
    if B.shape[0] != shape[1]:
        raise ValueError(f"B has {B.shape[0]} rows, expected {shape[1]} (A.shape[1])")
    out = np.empty((shape[0], B.shape[1]), dtype=dtype)
    _sparse_products.csr_matmul(data, indices, indptr, B, out,
                                threads_for(indices.size * B.shape[1], n_threads))
    return out



def dense_matmul(A, B, trans_a=False, n_threads=None):
    """Dense product ``A @ B`` (or ``A.T @ B``) split over threads.

    The rows of the result are cut into one block per thread and each block
    is one single-threaded GEMM (BLAS is limited to one thread during the
    call). Used between OpenMP kernels: BLAS's own worker threads keep
    spinning for a while after a multi-threaded product returns and would
    take the cores from the next OpenMP region.

    Parameters
    ----------
    A : array-like of shape (m, p), or (p, m) when ``trans_a``
    B : array-like of shape (p, k)
    trans_a : bool, default=False
        Multiply by ``A.T`` instead of ``A`` (without copying A).
    n_threads : int, optional

    Returns
    -------
    ndarray of shape (m, k)
        In the common dtype of A and B (float32 only when both are).
    """
    A, B = np.asarray(A), np.asarray(B)
    dtype = float_dtype(A, B)
    A = as_c(A, dtype, "A")
    B = as_c(B, dtype, "B")
    p, m = A.shape if trans_a else A.shape[::-1]
    if B.shape[0] != p:
        raise ValueError(f"B has {B.shape[0]} rows, expected {p} "
                         f"(A.shape[{0 if trans_a else 1}])")
    out = np.empty((m, B.shape[1]), dtype=dtype)
    with single_threaded_blas():
        _dense_products.matmul(A, B, out, bool(trans_a),
                               threads_for(m * p * B.shape[1] // 8, n_threads))
    return out
