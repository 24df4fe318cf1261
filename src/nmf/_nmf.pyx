"""NMF kernels: HALS coordinate sweeps, multiplicative updates, beta-divergence terms.

Every function here trusts its inputs (shapes, dtypes, contiguity); the
Python layer in ``fastfactor.kernels`` documents them and
``fastfactor._validation`` makes that trust safe. Loops run without the GIL,
parallel over rows with a static schedule. Reductions are written per row
into a buffer and summed in row order afterwards, so results do not depend
on how rows were split between threads.
"""
from cython.parallel cimport prange, parallel
from libc.math cimport pow, log, sqrt
from libc.float cimport FLT_EPSILON

from _blas cimport gemm_rm
from _fused cimport floating
from _nmf_shared cimport hals_row_sweeps, mu_denominator_term, mu_numerator_term
from _openmp_helpers cimport ff_omp_get_thread_num

import numpy as np


# scikit-learn's guard against dividing by, or taking negative powers of, zero.
cdef double EPSILON = FLT_EPSILON


cdef enum:
    HALS_CHUNK = 64  # rows per scheduling chunk, and per gradient GEMM


cdef void _hals_gradients(const floating* W, const floating* XHt, const double* HHt,
                          Py_ssize_t rows, Py_ssize_t k, double* W64,
                          double* grad) noexcept nogil:
    # grad = W @ HHt - XHt for a chunk of rows, in float64: one GEMM (the
    # caller keeps BLAS on one thread) instead of a k x k loop per row.
    cdef Py_ssize_t i
    cdef const double* Wd
    if floating is double:
        Wd = W
    else:
        for i in range(rows * k):
            W64[i] = W[i]
        Wd = W64
    for i in range(rows * k):
        grad[i] = -XHt[i]
    gemm_rm[double](b'n', b'n', <int>rows, <int>k, <int>k, 1.0, Wd, <int>k, HHt, <int>k,
            1.0, grad, <int>k)


def hals_update(floating[:, ::1] W, const floating[:, ::1] XHt,
                const floating[:, ::1] HHt, const Py_ssize_t[::1] permutation,
                int max_inner, double inner_tol, int n_threads):
    # The caller keeps BLAS on one thread (each chunk runs its own GEMM).
    cdef Py_ssize_t m = W.shape[0], k = W.shape[1], i, chunk, r0, r1, tid
    cdef Py_ssize_t n_chunks = (m + HALS_CHUNK - 1) // HALS_CHUNK
    cdef double[::1] row_violation = np.zeros(m)
    cdef const double[:, ::1] HHt64 = np.asarray(HHt, dtype=np.float64)
    # per thread: float64 gradients of a chunk, and a float64 copy of its W rows
    cdef double[:, ::1] grad = np.empty((max(n_threads, 1), HALS_CHUNK * k + 8))
    cdef double[:, ::1] W64 = np.empty((max(n_threads, 1),
                                        HALS_CHUNK * k + 8 if floating is float else 1))
    cdef double violation = 0.0
    if m == 0 or k == 0:
        return 0.0
    # Rows are independent and their violations are added in row order
    # below; chunks are fixed row ranges, whichever thread takes them, so
    # the schedule cannot change the result. Dynamic chunks let a thread
    # that got ahead (the two vCPUs of a VM rarely run at the same speed)
    # take more rows: a static split left one thread idle for a fifth of
    # the call.
    with nogil, parallel(num_threads=n_threads):
        tid = ff_omp_get_thread_num()
        for chunk in prange(n_chunks, schedule='dynamic', chunksize=1):
            r0 = chunk * HALS_CHUNK
            r1 = min(m, r0 + HALS_CHUNK)
            _hals_gradients(&W[r0, 0], &XHt[r0, 0], &HHt64[0, 0], r1 - r0, k,
                            &W64[tid, 0], &grad[tid, 0])
            for i in range(r0, r1):
                row_violation[i] = hals_row_sweeps(&W[i, 0], &grad[tid, (i - r0) * k],
                                                   &HHt[0, 0], &permutation[0], k,
                                                   max_inner, inner_tol, False)
    for i in range(m):
        violation += row_violation[i]
    return violation


def mu_update(floating[:, ::1] W, const floating[:, ::1] numerator,
              const floating[:, ::1] denominator, double l1_reg, double l2_reg,
              double gamma, double zero_below, int n_threads):
    # W *= (numerator / (denominator + l1 + l2 * W)) ** gamma; a denominator
    # with a single row is broadcast over all rows (the KL case).
    cdef Py_ssize_t m = W.shape[0], k = W.shape[1], i, t
    cdef Py_ssize_t den_row_step = 0 if denominator.shape[0] == 1 else k
    cdef const floating* den
    cdef double d, ratio
    if m == 0 or k == 0:
        return
    with nogil:
        for i in prange(m, schedule='static', num_threads=n_threads):
            den = &denominator[0, 0] + i * den_row_step
            for t in range(k):
                d = den[t]
                if l1_reg > 0:
                    d = d + l1_reg
                if l2_reg > 0:
                    d = d + l2_reg * W[i, t]
                if d == 0:
                    d = EPSILON
                ratio = numerator[i, t] / d
                if gamma != 1.0:
                    ratio = pow(ratio, gamma)
                W[i, t] = <floating>(W[i, t] * ratio)
                if W[i, t] < zero_below:
                    W[i, t] = 0


def mu_beta_terms(const floating[:, ::1] X, const floating[:, ::1] WH,
                  floating[:, ::1] out, floating[:, ::1] WH_pow, double beta,
                  bint want_pow, int n_threads):
    # out <- X * WH**(beta-2); if want_pow, WH_pow <- WH**(beta-1). ``out``
    # may be WH itself: each entry is read before it is written. The common
    # losses get loops of their own, free of branches, so they vectorise.
    cdef Py_ssize_t m = X.shape[0], n = X.shape[1], i, j
    cdef double wh
    cdef floating eps = <floating>EPSILON
    cdef floating v
    if beta == 1 and not want_pow:
        with nogil:
            for i in prange(m, schedule='static', num_threads=n_threads):
                for j in range(n):
                    v = WH[i, j]
                    if v < eps:
                        v = eps
                    out[i, j] = X[i, j] / v
        return
    with nogil:
        for i in prange(m, schedule='static', num_threads=n_threads):
            for j in range(n):
                wh = WH[i, j]
                if want_pow:
                    WH_pow[i, j] = <floating>mu_denominator_term(wh, beta)
                out[i, j] = <floating>mu_numerator_term(X[i, j], wh, beta)


cdef void _beta_terms_tile(const floating* X, floating* T, floating* P, Py_ssize_t size,
                           double beta, bint want_pow) noexcept nogil:
    # T holds W @ H on entry; on exit T = X * WH**(beta-2) and, if want_pow,
    # P = WH**(beta-1) (the same arithmetic as mu_beta_terms).
    cdef Py_ssize_t j
    cdef floating eps = <floating>EPSILON
    cdef floating v
    cdef double wh
    if beta == 1 and not want_pow:
        for j in range(size):
            v = T[j]
            if v < eps:
                v = eps
            T[j] = X[j] / v
        return
    for j in range(size):
        wh = T[j]
        if want_pow:
            P[j] = <floating>mu_denominator_term(wh, beta)
        T[j] = <floating>mu_numerator_term(X[j], wh, beta)


def mu_beta_products(const floating[:, ::1] X, const floating[:, ::1] W,
                     const floating[:, ::1] Ht, double beta, bint for_H,
                     floating[:, ::1] num, floating[:, ::1] den,
                     floating[:, ::1] T_buf, floating[:, ::1] P_buf,
                     floating[:, :, ::1] num_acc, floating[:, :, ::1] den_acc,
                     Py_ssize_t tile_rows, int n_threads):
    # The products of a multiplicative update for a beta-divergence, one tile
    # of rows of X at a time, with no m x n temporary:
    #   T = X * (W H)**(beta-2),  P = (W H)**(beta-1)         (tile x n)
    #   W update (for_H false): num = T @ Ht, den = P @ Ht    (tile rows of m x k)
    #   H update (for_H true):  num = sum T.T @ W, den = sum P.T @ W   (n x k)
    # Each thread owns a tile buffer (T_buf[t], P_buf[t]) and, for the H
    # update, accumulators num_acc[t], den_acc[t] that the caller adds up in
    # thread order. P and den are skipped for beta == 1 (den is a column sum).
    cdef Py_ssize_t m = X.shape[0], n = X.shape[1], k = W.shape[1]
    cdef Py_ssize_t n_tiles = (m + tile_rows - 1) // tile_rows, b, r0, rows
    cdef bint want_pow = beta != 1
    cdef int tid
    cdef floating* T
    cdef floating* P
    cdef floating zero = 0, one = 1
    if m == 0 or n == 0:
        return
    with nogil, parallel(num_threads=n_threads):
        tid = ff_omp_get_thread_num()
        T = &T_buf[tid, 0]
        P = &P_buf[tid, 0]
        for b in prange(n_tiles, schedule='static'):
            r0 = b * tile_rows
            rows = min(tile_rows, m - r0)
            gemm_rm(c'n', c't', rows, n, k, one, &W[r0, 0], k, &Ht[0, 0], k, zero, T, n)
            _beta_terms_tile(&X[r0, 0], T, P, rows * n, beta, want_pow)
            if for_H:
                gemm_rm(c't', c'n', n, k, rows, one, T, n, &W[r0, 0], k, one,
                        &num_acc[tid, 0, 0], k)
                if want_pow:
                    gemm_rm(c't', c'n', n, k, rows, one, P, n, &W[r0, 0], k, one,
                            &den_acc[tid, 0, 0], k)
            else:
                gemm_rm(c'n', c'n', rows, k, n, one, T, n, &Ht[0, 0], k, zero,
                        &num[r0, 0], k)
                if want_pow:
                    gemm_rm(c'n', c'n', rows, k, n, one, P, n, &Ht[0, 0], k, zero,
                            &den[r0, 0], k)


cdef inline double _beta_div_term(double x, double wh, double beta) noexcept nogil:
    # One entry of scikit-learn's _beta_divergence (beta != 2), without the
    # terms it adds globally. Entries with x <= EPSILON only contribute
    # through those global terms.
    if wh < EPSILON:
        wh = EPSILON
    if beta == 1:
        return x * log(x / wh)
    if beta == 0:
        return x / wh - log(x / wh)
    return pow(x, beta) - beta * x * pow(wh, beta - 1)


def beta_divergence_dense(const floating[:, ::1] X, const floating[:, ::1] WH,
                          double beta, int n_threads):
    cdef Py_ssize_t m = X.shape[0], n = X.shape[1], i, j
    cdef double[::1] row_sum = np.zeros(m)
    cdef double[::1] row_x = np.zeros(m)
    cdef double[::1] row_wh_pow = np.zeros(m)
    cdef double x, wh, s, sx, swp, total = 0.0, sum_x = 0.0, sum_wh_pow = 0.0
    with nogil:
        for i in prange(m, schedule='static', num_threads=n_threads):
            s = 0.0
            sx = 0.0
            swp = 0.0
            for j in range(n):
                x = X[i, j]
                wh = WH[i, j]
                if beta == 1:
                    swp = swp + wh
                elif beta != 0:
                    swp = swp + pow(wh, beta)
                if x > EPSILON:
                    s = s + _beta_div_term(x, wh, beta)
                    sx = sx + x
            row_sum[i] = s
            row_x[i] = sx
            row_wh_pow[i] = swp
        for i in range(m):
            total += row_sum[i]
            sum_x += row_x[i]
            sum_wh_pow += row_wh_pow[i]
    if beta == 1:
        # KL: sum x log(x/wh) - x + wh, the last two over every entry
        return total - sum_x + sum_wh_pow
    if beta == 0:
        # IS: sum over kept entries of x/wh - log(x/wh), minus one per entry
        return total - <double>m * n
    return (total + (beta - 1) * sum_wh_pow) / (beta * (beta - 1))


cdef inline double _dot(const floating* x, const floating* y, Py_ssize_t k) noexcept nogil:
    # Four partial sums: one running sum is a chain of dependent additions
    # that the compiler may not reorder (and so cannot vectorise).
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef Py_ssize_t t = 0
    while t + 4 <= k:
        s0 += <double>x[t] * y[t]
        s1 += <double>x[t + 1] * y[t + 1]
        s2 += <double>x[t + 2] * y[t + 2]
        s3 += <double>x[t + 3] * y[t + 3]
        t = t + 4
    while t < k:
        s0 += <double>x[t] * y[t]
        t = t + 1
    return (s0 + s1) + (s2 + s3)


def sampled_dot(const Py_ssize_t[::1] indptr, const Py_ssize_t[::1] indices,
                const floating[:, ::1] W, const floating[:, ::1] Ht, int n_threads):
    # (W @ Ht.T)[i, j] for every stored (i, j) of a CSR pattern.
    cdef Py_ssize_t m = indptr.shape[0] - 1, k = W.shape[1], i, p
    out_arr = np.empty(indptr[m], dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] out = out_arr
    if m == 0 or k == 0 or indptr[m] == 0:
        out_arr[:] = 0
        return out_arr
    with nogil:
        for i in prange(m, schedule='static', num_threads=n_threads):
            for p in range(indptr[i], indptr[i + 1]):
                out[p] = <floating>_dot(&W[i, 0], &Ht[indices[p], 0], k)
    return out_arr
