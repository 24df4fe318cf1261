"""Products of a CSR matrix with a dense matrix, parallel over rows.

scipy's sparse @ dense runs on one thread; these kernels split the rows of
the sparse operand between threads and accumulate each output row in
float64 before storing it in the output dtype.

Each stored entry (i, j) adds a multiple of row j of B to output row i, so
the product is bound by fetching rows of B in random order. When B is
larger than a core's L2 cache those fetches come from L3 or memory; the
kernel therefore walks a tile of rows of A one band of columns at a time
(band b holds columns [b * band, (b + 1) * band)), so that the rows of B a
band needs stay in L2 while the whole tile uses them. Column indices are
sorted within each row (canonical CSR), so each row's entries of a band are
contiguous and a per-row cursor finds them without any index structure.
"""
from cython.parallel cimport prange, parallel

from _fused cimport floating
from _openmp_helpers cimport ff_omp_get_thread_num

import numpy as np

cdef enum:
    BAND_BYTES = 1 << 17  # bytes of B's rows one band may hold (a share of L2)
    TILE_ROWS = 256       # rows of A per tile


def _padded(Py_ssize_t k):
    # Per-thread rows padded past whole 64-byte cache lines: two threads
    # writing neighbouring rows must never share a line (false sharing made
    # the two-thread kernels slower than one).
    return ((max(k, 1) + 7) // 8) * 8 + 8


def csr_matmul(const floating[::1] data, const Py_ssize_t[::1] indices,
               const Py_ssize_t[::1] indptr, const floating[:, ::1] B,
               floating[:, ::1] out, int n_threads):
    # out = A @ B with A given by canonical (data, indices, indptr), out (m, k)
    cdef Py_ssize_t m = indptr.shape[0] - 1, n = B.shape[0], k = B.shape[1]
    cdef Py_ssize_t kp = _padded(k)
    cdef Py_ssize_t band = max(64, BAND_BYTES // (max(k, 1) * sizeof(floating)))
    cdef Py_ssize_t n_bands = max(1, (n + band - 1) // band)
    cdef Py_ssize_t n_tiles = (m + TILE_ROWS - 1) // TILE_ROWS
    cdef Py_ssize_t tile, r0, r1, i, p, end, b, t, limit
    cdef double a
    cdef double* acc
    cdef double* arow
    cdef Py_ssize_t* cursor
    cdef const floating* brow
    # per thread: float64 accumulators for a tile of output rows, and cursors
    cdef double[:, ::1] thread_acc = np.empty((max(n_threads, 1), TILE_ROWS * kp))
    cdef Py_ssize_t[:, ::1] thread_cursor = np.empty((max(n_threads, 1), TILE_ROWS + 8),
                                                     dtype=np.intp)
    if m == 0 or k == 0:
        return
    with nogil, parallel(num_threads=n_threads):
        acc = &thread_acc[ff_omp_get_thread_num(), 0]
        cursor = &thread_cursor[ff_omp_get_thread_num(), 0]
        for tile in prange(n_tiles, schedule='static'):
            r0 = tile * TILE_ROWS
            r1 = min(m, r0 + TILE_ROWS)
            for i in range(r0, r1):
                cursor[i - r0] = indptr[i]
                arow = acc + (i - r0) * kp
                for t in range(k):
                    arow[t] = 0.0
            for b in range(n_bands):
                limit = (b + 1) * band
                for i in range(r0, r1):
                    p = cursor[i - r0]
                    end = indptr[i + 1]
                    arow = acc + (i - r0) * kp
                    while p < end and indices[p] < limit:
                        a = data[p]
                        brow = &B[indices[p], 0]
                        for t in range(k):
                            arow[t] += a * brow[t]
                        p = p + 1
                    cursor[i - r0] = p
            for i in range(r0, r1):
                arow = acc + (i - r0) * kp
                for t in range(k):
                    out[i, t] = <floating>arow[t]
