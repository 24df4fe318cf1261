"""Masked NMF kernels: only the observed entries of X enter the loss.

The observed entries are given as a CSR structure (data, indices, indptr):
stored entries are the observed ones, explicit zeros included; everything
else is missing. The same kernels serve both factors: the W side runs on
the CSR of X with (W, Ht), the H side on the CSR of X.T with (Ht, W).

Loops run without the GIL, parallel over rows with a static schedule.
Per-row results go to buffers reduced in row order, so results do not
depend on how rows were split between threads. Small k x k work is
hand-written; nothing here calls BLAS.
"""
from cython.parallel cimport prange, parallel
from libc.math cimport pow, log
from libc.float cimport FLT_EPSILON

from _fused cimport floating
from _nmf_shared cimport hals_row_sweeps, mu_denominator_term, mu_numerator_term
from _openmp_helpers cimport ff_omp_get_thread_num

import numpy as np

# scikit-learn's guard against dividing by, or taking negative powers of, zero.
cdef double EPSILON = FLT_EPSILON


cdef extern from *:
    """
    /* G[s, t] += sign * h[s] * h[t] for t >= s (upper triangle); restrict lets
       the compiler vectorise the inner loop. */
    static inline void ff_sym_rank1(double* restrict G, const double* restrict h,
                                    Py_ssize_t k, double sign) {
        for (Py_ssize_t s = 0; s < k; s++) {
            double hs = sign * h[s];
            if (hs == 0) continue;
            double* restrict Gs = G + s * k;
            for (Py_ssize_t t = s; t < k; t++) Gs[t] += hs * h[t];
        }
    }
    """
    void ff_sym_rank1(double* G, const double* h, Py_ssize_t k, double sign) noexcept nogil


cdef void _row_gram(double* G, double* b, const floating* data,
                    const Py_ssize_t* indices, Py_ssize_t start, Py_ssize_t stop,
                    const floating* Ht, const double* HHt,
                    const Py_ssize_t* miss_indices, Py_ssize_t miss_start,
                    Py_ssize_t miss_stop, bint complement, Py_ssize_t k,
                    double l1_reg, double l2_reg) noexcept nogil:
    """G = sum_obs h_j h_j^T (+ l2 on the diagonal), b = sum_obs x_j h_j - l1.

    With ``complement`` G is built as HHt - sum_missing h_j h_j^T instead,
    which is cheaper for a row that misses fewer entries than it observes.
    Only the upper triangle is accumulated, then mirrored.
    """
    cdef Py_ssize_t p, j, s, t
    cdef const floating* h
    cdef double hs, x
    # hd: the h row in float64 (scratch after b), so one C helper serves both dtypes
    cdef double* hd = b + k
    if complement:
        for s in range(k * k):
            G[s] = HHt[s]
        for p in range(miss_start, miss_stop):
            h = Ht + miss_indices[p] * k
            for s in range(k):
                hd[s] = h[s]
            ff_sym_rank1(G, hd, k, -1.0)
    else:
        for s in range(k * k):
            G[s] = 0.0
        for p in range(start, stop):
            h = Ht + indices[p] * k
            for s in range(k):
                hd[s] = h[s]
            ff_sym_rank1(G, hd, k, 1.0)
    for s in range(k):
        for t in range(s + 1, k):
            G[t * k + s] = G[s * k + t]
        G[s * k + s] += l2_reg
        b[s] = -l1_reg
    for p in range(start, stop):
        x = data[p]
        if x != 0:
            h = Ht + indices[p] * k
            for s in range(k):
                b[s] += x * h[s]


cdef double _hals_row_gram(floating* w, const double* b, const double* G,
                           const Py_ssize_t* perm, Py_ssize_t k, int max_inner,
                           double inner_tol, double* grad) noexcept nogil:
    """Coordinate sweeps minimising 0.5 w.G.w - w.b over w >= 0.

    The plain HALS kernel's sweeps (:func:`hals_row_sweeps`) with a float64
    Gram matrix of the row's own, from the gradient computed here. Returns
    the projected-gradient violation seen in the first sweep.
    """
    cdef Py_ssize_t t, r
    cdef double wt
    for r in range(k):
        grad[r] = -b[r]
    for t in range(k):
        wt = w[t]
        if wt != 0:
            for r in range(k):
                grad[r] += G[t * k + r] * wt
    # a G built by subtraction (the complement route) can round to a negative diagonal
    return hals_row_sweeps(w, grad, G, perm, k, max_inner, inner_tol, True)


def masked_hals_update(floating[:, ::1] W, const floating[::1] data,
                       const Py_ssize_t[::1] indices, const Py_ssize_t[::1] indptr,
                       const floating[:, ::1] Ht, const double[:, ::1] HHt,
                       const Py_ssize_t[::1] miss_indices, const Py_ssize_t[::1] miss_indptr,
                       bint use_complement, const Py_ssize_t[::1] permutation,
                       int max_inner, double inner_tol, double l1_reg, double l2_reg,
                       int n_threads):
    cdef Py_ssize_t m = W.shape[0], k = W.shape[1], i
    cdef Py_ssize_t width = k * k + 2 * k
    cdef bint complement
    cdef double* G
    cdef double* b
    cdef double* grad
    cdef double[::1] row_violation = np.zeros(m)
    # per thread: Gram matrix (k*k), right-hand side (k), gradient (k)
    cdef double[:, ::1] buf = np.empty((max(n_threads, 1), max(width, 1)))
    cdef double violation = 0.0
    if m == 0 or k == 0:
        return 0.0
    with nogil, parallel(num_threads=n_threads):
        G = &buf[ff_omp_get_thread_num(), 0]
        b = G + k * k
        grad = b + k
        for i in prange(m, schedule='static'):
            complement = use_complement and (
                miss_indptr[i + 1] - miss_indptr[i] < indptr[i + 1] - indptr[i])
            _row_gram(G, b, &data[0], &indices[0], indptr[i], indptr[i + 1], &Ht[0, 0],
                      &HHt[0, 0], &miss_indices[0], miss_indptr[i], miss_indptr[i + 1],
                      complement, k, l1_reg, l2_reg)
            row_violation[i] = _hals_row_gram(&W[i, 0], b, G, &permutation[0], k,
                                              max_inner, inner_tol, grad)
    for i in range(m):
        violation += row_violation[i]
    return violation


cdef void _mu_row(const floating* data, const Py_ssize_t* indices, Py_ssize_t start,
                  Py_ssize_t stop, const floating* w, const floating* Ht, Py_ssize_t k,
                  double beta, double* acc_num, double* acc_den) noexcept nogil:
    cdef Py_ssize_t p, t
    cdef const floating* h
    cdef double wh, a, d, whf, q
    for t in range(k):
        acc_num[t] = 0.0
        acc_den[t] = 0.0
    for p in range(start, stop):
        h = Ht + indices[p] * k
        wh = 0.0
        if beta != 1:
            for t in range(k):
                wh += <double>w[t] * h[t]
        elif data[p] != 0:
            for t in range(k):
                wh += <double>w[t] * h[t]
        if beta == 2 or beta == 1 or beta == 0:
            a = mu_numerator_term(data[p], wh, beta)
            d = mu_denominator_term(wh, beta)
        else:
            # one pow per entry: wh^(beta-1) = wh^(beta-2) * wh where the floors agree
            whf = wh if wh >= EPSILON else EPSILON
            q = pow(whf, beta - 2)
            a = data[p] * q
            if wh >= EPSILON or beta < 1:
                d = q * whf
            else:
                d = pow(wh, beta - 1)
        for t in range(k):
            acc_num[t] += a * h[t]
            acc_den[t] += d * h[t]


def masked_mu_terms(const floating[::1] data, const Py_ssize_t[::1] indices,
                    const Py_ssize_t[::1] indptr, const floating[:, ::1] W,
                    const floating[:, ::1] Ht, double beta, floating[:, ::1] num,
                    floating[:, ::1] den, int n_threads):
    # num[i] = sum_obs x_ij wh_ij^(beta-2) h_j, den[i] = sum_obs wh_ij^(beta-1) h_j
    cdef Py_ssize_t m = W.shape[0], k = W.shape[1], i, t
    cdef double* acc
    cdef double[:, ::1] buf = np.empty((max(n_threads, 1), max(2 * k, 1)))
    if m == 0 or k == 0:
        return
    with nogil, parallel(num_threads=n_threads):
        acc = &buf[ff_omp_get_thread_num(), 0]
        for i in prange(m, schedule='static'):
            _mu_row(&data[0], &indices[0], indptr[i], indptr[i + 1], &W[i, 0], &Ht[0, 0],
                    k, beta, acc, acc + k)
            for t in range(k):
                num[i, t] = <floating>acc[t]
                den[i, t] = <floating>acc[k + t]


cdef inline double _div_term(double x, double wh, double beta) noexcept nogil:
    # one observed entry of D_beta(x | wh), scikit-learn's conventions
    cdef double res = 0.0, whf
    if beta == 2:
        return 0.5 * (x - wh) * (x - wh)
    whf = wh if wh >= EPSILON else EPSILON
    if beta == 1:
        if x > EPSILON:
            res = x * log(x / whf) - x
        return res + wh
    if beta == 0:
        if x > EPSILON:
            res = x / whf - log(x / whf)
        return res - 1.0
    if x > EPSILON:
        res = pow(x, beta) - beta * x * pow(whf, beta - 1)
    return (res + (beta - 1) * pow(wh, beta)) / (beta * (beta - 1))


def masked_beta_divergence(const floating[::1] data, const Py_ssize_t[::1] indices,
                           const Py_ssize_t[::1] indptr, const floating[:, ::1] W,
                           const floating[:, ::1] Ht, double beta, int n_threads):
    cdef Py_ssize_t m = W.shape[0], k = W.shape[1], i, p, t
    cdef double[::1] row_sum = np.zeros(m)
    cdef double s, wh, total = 0.0
    cdef const floating* h
    with nogil:
        for i in prange(m, schedule='static', num_threads=n_threads):
            s = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                h = &Ht[0, 0] + indices[p] * k
                wh = 0.0
                for t in range(k):
                    wh = wh + <double>W[i, t] * h[t]
                s = s + _div_term(data[p], wh, beta)
            row_sum[i] = s
    for i in range(m):
        total += row_sum[i]
    return total
