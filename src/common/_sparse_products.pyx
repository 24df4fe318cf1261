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

Within a band, a row's entries are taken four at a time: one pass over the
accumulator row adds four rows of B, so the accumulator is loaded and
stored a quarter as often (the product was bound by those loads and
stores once B stayed in cache).

The rows of B four entries ahead are prefetched: the hardware prefetchers
cannot guess a random next row, and on nmf-sparse's ``X.T @ W`` (B of 5 MB,
larger than L2) asking early made the product 1.15-1.3x faster; when B is
in L2 it neither helps nor hurts.
"""
from cython.parallel cimport prange, parallel

from _fused cimport floating
from _openmp_helpers cimport ff_omp_get_thread_num

import numpy as np

cdef enum:
    BAND_BYTES = 1 << 19  # bytes of B's rows one band may hold (under half of L2)
    TILE_ROWS = 256       # rows of A per tile
    PREFETCH_AHEAD = 4    # entries between a row's prefetch and its use


cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define ff_prefetch(p) __builtin_prefetch((const void*)(p), 0, 3)
    #else
    #define ff_prefetch(p) ((void)0)
    #endif
    """
    void ff_prefetch(const void* p) noexcept nogil


cdef inline void _prefetch_row(const floating* row, Py_ssize_t k) noexcept nogil:
    # the hardware prefetchers cannot guess the next random row of B: ask
    # for every cache line of it a few entries before it is used
    cdef Py_ssize_t t = 0
    cdef Py_ssize_t per_line = 64 // sizeof(floating)
    while t < k:
        ff_prefetch(row + t)
        t = t + per_line


def _padded(Py_ssize_t k):
    # Per-thread rows padded past whole 64-byte cache lines: two threads
    # writing neighbouring rows must never share a line (false sharing made
    # the two-thread kernels slower than one).
    return ((max(k, 1) + 7) // 8) * 8 + 8


cdef inline Py_ssize_t _add_rows(double* acc, const floating* data,
                                 const Py_ssize_t* indices, Py_ssize_t p, Py_ssize_t end,
                                 Py_ssize_t limit, const floating* B,
                                 Py_ssize_t k) noexcept nogil:
    """acc += sum of data[q] * B[indices[q]] over entries q >= p with column < limit.

    Returns the first entry not taken (the row's cursor for the next band).
    """
    cdef Py_ssize_t q = p, t
    cdef double a0, a1, a2, a3
    cdef const floating* b0
    cdef const floating* b1
    cdef const floating* b2
    cdef const floating* b3
    while q < end and indices[q] < limit:
        q = q + 1
    while p + 4 <= q:
        if p + PREFETCH_AHEAD + 4 <= q:
            _prefetch_row(B + indices[p + PREFETCH_AHEAD] * k, k)
            _prefetch_row(B + indices[p + PREFETCH_AHEAD + 1] * k, k)
            _prefetch_row(B + indices[p + PREFETCH_AHEAD + 2] * k, k)
            _prefetch_row(B + indices[p + PREFETCH_AHEAD + 3] * k, k)
        a0 = data[p]
        a1 = data[p + 1]
        a2 = data[p + 2]
        a3 = data[p + 3]
        b0 = B + indices[p] * k
        b1 = B + indices[p + 1] * k
        b2 = B + indices[p + 2] * k
        b3 = B + indices[p + 3] * k
        for t in range(k):
            acc[t] += (a0 * b0[t] + a1 * b1[t]) + (a2 * b2[t] + a3 * b3[t])
        p = p + 4
    while p < q:
        a0 = data[p]
        b0 = B + indices[p] * k
        for t in range(k):
            acc[t] += a0 * b0[t]
        p = p + 1
    return q


def csr_matmul(const floating[::1] data, const Py_ssize_t[::1] indices,
               const Py_ssize_t[::1] indptr, const floating[:, ::1] B,
               floating[:, ::1] out, int n_threads):
    # out = A @ B with A given by canonical (data, indices, indptr), out (m, k)
    cdef Py_ssize_t m = indptr.shape[0] - 1, n = B.shape[0], k = B.shape[1]
    cdef Py_ssize_t kp = _padded(k)
    cdef Py_ssize_t band = max(64, BAND_BYTES // (max(k, 1) * sizeof(floating)))
    cdef Py_ssize_t n_bands = max(1, (n + band - 1) // band)
    cdef Py_ssize_t n_tiles = (m + TILE_ROWS - 1) // TILE_ROWS
    cdef Py_ssize_t tile, r0, r1, i, b, t, limit
    cdef double* acc
    cdef double* arow
    cdef Py_ssize_t* cursor
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
                    cursor[i - r0] = _add_rows(acc + (i - r0) * kp, &data[0], &indices[0],
                                               cursor[i - r0], indptr[i + 1], limit,
                                               &B[0, 0], k)
            for i in range(r0, r1):
                arow = acc + (i - r0) * kp
                for t in range(k):
                    out[i, t] = <floating>arow[t]
