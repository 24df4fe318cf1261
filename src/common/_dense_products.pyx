"""Dense products split over threads, one single-threaded GEMM per thread.

Inside a fit that keeps BLAS to one thread (so that OpenBLAS's own worker
threads never spin while the OpenMP kernels run), these give the big
products their parallelism back: the rows of the output are cut into one
contiguous block per thread and each thread runs one GEMM on its block.
Each output entry is computed by a single GEMM call, whatever the number of
threads.
"""
from cython.parallel cimport prange

from _blas cimport gemm_rm
from _fused cimport floating


def matmul(const floating[:, ::1] A, const floating[:, ::1] B, floating[:, ::1] out,
           bint trans_a, int n_threads):
    # out = A @ B (trans_a false: A (m, p), B (p, k), out (m, k)) or
    # out = A.T @ B (trans_a true: A (p, m), B (p, k), out (m, k)).
    cdef Py_ssize_t m = out.shape[0], k = out.shape[1]
    cdef Py_ssize_t p = A.shape[0] if trans_a else A.shape[1]
    cdef Py_ssize_t lda = A.shape[1]
    cdef Py_ssize_t n_blocks = max(1, min(n_threads, m)), b, start, stop
    cdef const floating* a_block
    cdef floating zero = 0, one = 1
    if m == 0 or k == 0:
        return
    if p == 0:
        out[:, :] = 0
        return
    with nogil:
        for b in prange(n_blocks, schedule='static', num_threads=n_threads):
            start = b * m // n_blocks
            stop = (b + 1) * m // n_blocks
            if trans_a:
                # rows start:stop of A.T @ B are columns start:stop of A
                a_block = &A[0, 0] + start
                gemm_rm(c't', c'n', stop - start, k, p, one, a_block, lda,
                        &B[0, 0], k, zero, &out[start, 0], k)
            else:
                a_block = &A[0, 0] + start * lda
                gemm_rm(c'n', c'n', stop - start, k, p, one, a_block, lda,
                        &B[0, 0], k, zero, &out[start, 0], k)
