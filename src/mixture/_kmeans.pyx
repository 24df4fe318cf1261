"""k-means kernels: k-means++ candidate distances and Lloyd iterations.

Used to initialize Gaussian mixtures (``init_params='kmeans'`` and
``'k-means++'``) without scikit-learn. Modelled on scikit-learn's
``_k_means_lloyd.pyx``: rows are processed in tiles, in parallel (OpenMP);
blocks of consecutive tiles keep their own partial sums, added in block
order afterwards (see ``_blocks.pxd``). The Python driver is in ``fastfactor.kernels``; inputs
are trusted (shapes, dtypes, contiguity).
"""
from cython.parallel cimport prange, threadid
from libc.math cimport INFINITY
from _blas cimport gemm_rm

from _blocks cimport blocks
from _fused cimport floating
from _reductions cimport sqdist

import numpy as np


def pp_distances(const floating[:, ::1] X, const floating[:, ::1] C,
                 const double[::1] closest, double[:, ::1] out, int tile,
                 int n_threads):
    """k-means++ trial: squared distances to each candidate, capped by ``closest``.

    ``out[c, i] = min(|X[i] - C[c]|**2, closest[i])``; returns the potential
    of each candidate, ``out.sum(axis=1)``, summed per thread then in
    thread order.
    """
    cdef int n = X.shape[0], d = X.shape[1], t = C.shape[0]
    cdef int n_tiles = (n + tile - 1) // tile
    cdef int b, i, c, n_blocks, per_block, start, stop
    cdef double dist
    n_blocks, per_block = blocks(n_tiles, t, n_threads)
    cdef double[:, ::1] pot = np.zeros((n_blocks, t))
    with nogil:
        for b in prange(n_blocks, schedule='dynamic', chunksize=1,
                        num_threads=max(1, min(n_threads, n_blocks))):
            start = b * per_block * tile
            stop = min(n, (b + 1) * per_block * tile)
            for i in range(start, stop):
                for c in range(t):
                    dist = sqdist(&X[i, 0], &C[c, 0], d)
                    if closest[i] < dist:
                        dist = closest[i]
                    out[c, i] = dist
                    pot[b, c] += dist
    return np.asarray(pot).sum(axis=0)


cdef inline void _gemm_nt(int m, int n, int k, const floating* A, int lda,
                          const floating* B, int ldb, floating* C,
                          int ldc) noexcept nogil:
    # Row-major C (m x n) = A (m x k) @ B.T (B is n x k)
    gemm_rm(c'n', c't', m, n, k, <floating>1, A, lda, B, ldb, <floating>0, C, ldc)


def lloyd_iter(const floating[:, ::1] X, const floating[::1] center,
               const floating[:, ::1] centers, int[::1] labels, double[::1] dist,
               bint update, int tile, int n_threads):
    """One Lloyd iteration on ``xc = X - center`` (centers in the same frame).

    Assigns each row to its nearest center (argmin of |c|**2 - 2 xc.c, by a
    GEMM per tile; the first one on ties), stores its squared distance to
    that center in ``dist`` and the label in ``labels`` (in place). With
    ``update``, also sums the rows of each cluster (float64).

    Returns ``(n_changed, sums, counts)``: how many labels changed, and the
    per-cluster sums (K x d) and counts (K,) when ``update`` (else None).
    """
    cdef int n = X.shape[0], d = X.shape[1], K = centers.shape[0]
    cdef int n_tiles = (n + tile - 1) // tile
    cdef int b, t, tid, i, j, k, start, T, best, n_blocks, per_block
    cdef double v, vbest
    cdef floating* Z
    cdef floating* D
    n_blocks, per_block = blocks(n_tiles, K * d + K if update else 1, n_threads)
    n_threads = max(1, min(n_threads, n_blocks))
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] Zw = np.empty((n_threads, tile * d), dtype=dtype)
    cdef floating[:, ::1] Dw = np.empty((n_threads, tile * K), dtype=dtype)
    cdef double[::1] csq = np.zeros(K)
    cdef double[:, ::1] sums = np.zeros((n_blocks, K * d if update else 1))
    cdef double[:, ::1] counts = np.zeros((n_blocks, K if update else 1))
    cdef long[::1] changed = np.zeros(n_blocks, dtype=np.int_)
    for k in range(K):
        for j in range(d):
            csq[k] += <double>centers[k, j] * centers[k, j]
    with nogil:
        for b in prange(n_blocks, schedule='dynamic', chunksize=1, num_threads=n_threads):
            tid = threadid()
            Z = &Zw[tid, 0]
            D = &Dw[tid, 0]
            for t in range(b * per_block, min(n_tiles, (b + 1) * per_block)):
                start = t * tile
                T = min(tile, n - start)
                for i in range(T):
                    for j in range(d):
                        Z[i * d + j] = X[start + i, j] - center[j]
                _gemm_nt(T, K, d, Z, d, &centers[0, 0], d, D, K)
                for i in range(T):
                    best = 0
                    vbest = INFINITY
                    for k in range(K):
                        v = csq[k] - 2.0 * D[i * K + k]
                        if v < vbest:
                            vbest = v
                            best = k
                    if labels[start + i] != best:
                        changed[b] += 1
                        labels[start + i] = best
                    dist[start + i] = sqdist(Z + i * d, &centers[best, 0], d)
                    if update:
                        counts[b, best] += 1
                        for j in range(d):
                            sums[b, best * d + j] += Z[i * d + j]
    n_changed = int(np.sum(changed))
    if not update:
        return n_changed, None, None
    return (n_changed, np.asarray(sums).sum(axis=0).reshape(K, d),
            np.asarray(counts).sum(axis=0))
