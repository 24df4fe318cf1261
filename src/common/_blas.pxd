# Row-major GEMM on top of scipy's BLAS, for kernels that run small
# products per row tile inside their own OpenMP regions (the caller limits
# BLAS to one thread there, see fastfactor._threads.single_threaded_blas).
from scipy.linalg.cython_blas cimport dgemm, sgemm

from _fused cimport floating


cdef inline void gemm_rm(char ta, char tb, int m, int n, int k, floating alpha,
                         const floating* A, int lda, const floating* B, int ldb,
                         floating beta, floating* C, int ldc) noexcept nogil:
    # Row-major C (m x n) = alpha * op(A) @ op(B) + beta * C, where op(.)
    # transposes when its flag is 't'. A row-major matrix is the column-major
    # storage of its transpose, so BLAS computes C.T = op(B).T @ op(A).T.
    if m <= 0 or n <= 0:
        return
    if floating is double:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>B, &ldb, <double*>A, &lda,
              &beta, C, &ldc)
    else:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>B, &ldb, <float*>A, &lda,
              &beta, C, &ldc)
