"""Products of a CSR matrix with a dense matrix, parallel over rows.

scipy's sparse @ dense runs on one thread; these kernels split the rows of
the sparse operand between threads and accumulate each output row in
float64 before storing it in the output dtype.
"""
from cython.parallel cimport prange, parallel

from _fused cimport floating
from _openmp_helpers cimport ff_omp_get_thread_num

import numpy as np


def _padded(Py_ssize_t k):
    # Per-thread rows padded past whole 64-byte cache lines: two threads
    # writing neighbouring rows must never share a line (false sharing made
    # the two-thread kernels slower than one).
    return ((max(k, 1) + 7) // 8) * 8 + 8


def csr_matmul(const floating[::1] data, const Py_ssize_t[::1] indices,
               const Py_ssize_t[::1] indptr, const floating[:, ::1] B,
               floating[:, ::1] out, int n_threads):
    # out = A @ B with A given by (data, indices, indptr), out (m, k)
    cdef Py_ssize_t m = indptr.shape[0] - 1, k = B.shape[1], i, p, j, t
    cdef double a
    cdef double* acc
    # one float64 accumulator row per thread, allocated here with the GIL
    cdef double[:, ::1] thread_acc = np.empty((max(n_threads, 1), _padded(k)))
    if m == 0 or k == 0:
        return
    with nogil, parallel(num_threads=n_threads):
        acc = &thread_acc[ff_omp_get_thread_num(), 0]
        for i in prange(m, schedule='static'):
            for t in range(k):
                acc[t] = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                a = data[p]
                for t in range(k):
                    acc[t] += a * B[j, t]
            for t in range(k):
                out[i, t] = <floating>acc[t]
