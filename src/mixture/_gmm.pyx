"""Gaussian-mixture kernels: one fused, tiled pass over X per EM iteration.

Every function here trusts its inputs (shapes, dtypes, contiguity); the
Python layer in ``fastfactor.kernels`` prepares them (it folds the model's
parameters into the small operands ``W`` and ``cst`` below) and
``fastfactor._validation`` makes that trust safe.

The rows of X are cut into tiles of ``tile`` rows, grouped in blocks that
threads take in turn (OpenMP, dynamic schedule). For each tile, in
per-thread buffers:

1. log-probabilities ``L`` (tile x K) of each row under each component,
   as small GEMMs (BLAS, which the caller limits to one thread)::

       diag       F = [xc, xc**2]          L = F @ W      (xc = x - center)
       spherical  F = [xc, |xc|**2]        L = F @ W
       tied       Y = xc @ U, F = [Y, |Y|**2]   L = F @ W
       full       for each k: L[:, k] = -0.5 * |xc @ U_k - b_k|**2

   so that ``L + cst`` is log(weight_k) + log N(x | mu_k, Sigma_k);
2. a numerically stable log-sum-exp per row (float64), giving
   log p(x) and the responsibilities ``R`` (float64);
3. what was asked for: the M-step's sufficient statistics (accumulated
   in float64 per block of consecutive tiles and added in block order, see
   ``_blocks.pxd``), or per-row scores, labels or responsibilities written
   to the caller's arrays.

Nothing of size n x K is allocated: only the caller's outputs are n-sized.
Second moments are accumulated around a center (the data mean for
diag/spherical/tied, each component's current mean for full), never as
raw E[x**2], so the M-step does not subtract large nearly-equal numbers.
"""
from cython.parallel cimport prange, threadid
from libc.float cimport FLT_EPSILON
from libc.math cimport exp, log, sqrt, INFINITY
from scipy.linalg.cython_blas cimport dgemm, dsyrk

from _blas cimport gemm_rm as _gemm

from _blocks cimport blocks
from _fused cimport floating
from _reductions cimport sqdist

import numpy as np

cdef enum:
    DIAG = 0
    SPHERICAL = 1
    TIED = 2
    FULL = 3

# Responsibilities below 1e-30 (log -69) are set to exactly 0. Summed over
# up to 1e12 rows they change a component's count by less than 1e-18, a
# thousandth of the 10 * eps the M-step adds to every count, so no
# statistic moves by more than rounding; but dropping them skips the exp
# call and, for 'full', the row's whole contribution to the component's
# scatter (well separated components have almost no row in common), and
# keeps products out of the denormal range, where they run ~100x slower.
cdef double LOG_RESP_FLOOR = -69.0
# float32 log-probabilities within this of a row's best are recomputed exactly
# (the GEMM expansion's float32 error must stay below it) ...
cdef double REFINE_MARGIN = 100.0
# ... in the rows where that error may exceed REFINE_TOL (nats): it is at most
# about 4 * FLT_EPSILON * (pmax * |xc|**2 + cmax), see _log_sum_exp
cdef double REFINE_TOL = 1e-2
cdef double REFINE_EPS = 4 * FLT_EPSILON


cdef inline void _gemm64(char ta, char tb, int m, int n, int k, const double* A,
                         int lda, const double* B, int ldb, double* C,
                         int ldc) noexcept nogil:
    # Row-major C += op(A) @ op(B) in float64 (statistics accumulate here).
    cdef double one = 1.0
    dgemm(&tb, &ta, &n, &m, &k, &one, <double*>B, &ldb, <double*>A, &lda, &one, C, &ldc)


cdef inline void _syrk_acc(int d, int m, const double* A, double* C) noexcept nogil:
    # C (d x d) += A.T @ A for row-major A (m x d). Only the lower triangle
    # of the row-major C is written; the caller symmetrizes.
    cdef double one = 1.0
    cdef char uplo = c'U', trans = c'N'
    dsyrk(&uplo, &trans, &d, &m, &one, <double*>A, &d, &one, C, &d)


cdef inline double _sumsq(const floating* y, int d) noexcept nogil:
    # sum(y ** 2) in float64, four partial sums (no latency-bound chain)
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef int j = 0
    while j + 4 <= d:
        s0 += <double>y[j] * y[j]
        s1 += <double>y[j + 1] * y[j + 1]
        s2 += <double>y[j + 2] * y[j + 2]
        s3 += <double>y[j + 3] * y[j + 3]
        j += 4
    while j < d:
        s0 += <double>y[j] * y[j]
        j += 1
    return (s0 + s1) + (s2 + s3)


cdef inline double _sum4(const floating* y, int d) noexcept nogil:
    # sum(y) in float64, four partial sums
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    cdef int j = 0
    while j + 4 <= d:
        s0 += y[j]
        s1 += y[j + 1]
        s2 += y[j + 2]
        s3 += y[j + 3]
        j += 4
    while j < d:
        s0 += y[j]
        j += 1
    return (s0 + s1) + (s2 + s3)


cdef void _center(const floating* X, int T, int d, const floating* center,
                  floating* Z, int ldz) noexcept nogil:
    # Z[:, :d] = X - center (T rows, leading dimension ldz); Z[:, d] = 1 if ldz > d
    cdef int i, j
    for i in range(T):
        for j in range(d):
            Z[i * ldz + j] = X[i * d + j] - center[j]
        if ldz > d:
            Z[i * ldz + d] = 1


cdef void _features(const floating* X, int T, int d, int cov, const floating* center,
                    const floating* U, floating* Z, floating* F) noexcept nogil:
    # The per-row feature maps (xc = x - center). The first ones feed the
    # log-probability GEMM, and a column of ones makes the statistics' GEMM
    # return the responsibilities' sums as its last column:
    #   diag      F = [xc, xc**2, 1]                   (ld 2d + 1)
    #   spherical F = [xc, |xc|**2, 1]                 (ld d + 2)
    #   tied      Z = [xc, 1], F = [xc @ U, |xc @ U|**2]   (both ld d + 1)
    #   full      Z = xc                               (ld d)
    # Squared norms are summed in float64.
    cdef int i, j, ld
    cdef floating v
    if cov == DIAG:
        ld = 2 * d + 1
        for i in range(T):
            for j in range(d):
                v = X[i * d + j] - center[j]
                F[i * ld + j] = v
                F[i * ld + d + j] = v * v
            F[i * ld + 2 * d] = 1
    elif cov == SPHERICAL:
        ld = d + 2
        for i in range(T):
            for j in range(d):
                F[i * ld + j] = X[i * d + j] - center[j]
            F[i * ld + d] = <floating>_sumsq(F + i * ld, d)
            F[i * ld + d + 1] = 1
    elif cov == TIED:
        ld = d + 1
        _center(X, T, d, center, Z, ld)
        _gemm(c'n', c'n', T, d, d, <floating>1.0, Z, ld, U, d, <floating>0.0, F, ld)
        for i in range(T):
            F[i * ld + d] = <floating>_sumsq(F + i * ld, d)
    else:
        _center(X, T, d, center, Z, d)


cdef void _log_prob(const floating* X, int T, int d, int K, int cov,
                    const floating* center, const floating* U, const floating* W,
                    floating* Z, floating* F, floating* L) noexcept nogil:
    # L (T x K) such that L + cst = log w_k + log N(x | mu_k, Sigma_k).
    cdef int i, k
    _features(X, T, d, cov, center, U, Z, F)
    if cov == DIAG:
        _gemm(c'n', c'n', T, K, 2 * d, <floating>1.0, F, 2 * d + 1, W, K,
              <floating>0.0, L, K)
    elif cov == SPHERICAL:
        _gemm(c'n', c'n', T, K, d + 1, <floating>1.0, F, d + 2, W, K,
              <floating>0.0, L, K)
    elif cov == TIED:
        _gemm(c'n', c'n', T, K, d + 1, <floating>1.0, F, d + 1, W, K,
              <floating>0.0, L, K)
    else:
        # L[:, k] = -0.5 * |xc @ U_k - b_k|**2, b_k = (mu_k - center) @ U_k the
        # k-th row of W; Y = xc @ U_k goes to F
        for k in range(K):
            _gemm(c'n', c'n', T, d, d, <floating>1.0, Z, d, U + k * d * d, d,
                  <floating>0.0, F, d)
            for i in range(T):
                L[i * K + k] = <floating>(-0.5 * sqdist(F + i * d, W + k * d, d))


cdef inline double _exact_quad(int refine, const floating* x, const floating* y,
                               const floating* mu, const double* e, int d) noexcept nogil:
    # The quadratic form of one row under one component, subtracting before
    # squaring, in float64: diag/spherical sum_j e_j (x_j - mu_j)**2 (e: the
    # precisions), tied sum_j (y_j - e_j)**2 (y = xc @ U, e = (mu - c) @ U).
    cdef double s0 = 0.0, s1 = 0.0, t0, t1
    cdef int j = 0
    if refine == TIED:
        while j + 2 <= d:
            t0 = <double>y[j] - e[j]
            t1 = <double>y[j + 1] - e[j + 1]
            s0 += t0 * t0
            s1 += t1 * t1
            j += 2
        if j < d:
            t0 = <double>y[j] - e[j]
            s0 += t0 * t0
        return s0 + s1
    while j + 2 <= d:
        t0 = <double>x[j] - <double>mu[j]
        t1 = <double>x[j + 1] - <double>mu[j + 1]
        s0 += e[j] * t0 * t0
        s1 += e[j + 1] * t1 * t1
        j += 2
    if j < d:
        t0 = <double>x[j] - <double>mu[j]
        s0 += e[j] * t0 * t0
    return s0 + s1


cdef double _log_sum_exp(const floating* L, const double* cst, int T, int K,
                         double* R, double* v, double* lpn, Py_ssize_t* labels,
                         int refine, const floating* X, const floating* Y, int ldy,
                         const floating* means, const double* E, const double* cst2,
                         double pmax, double cmax, int d) noexcept nogil:
    # For each row: v_k = L_k + cst_k, log p(x) = max v + log sum exp(v - max v),
    # r_k = exp(v_k - log p(x)) (computed as exp(v_k - max) / sum; 0 when
    # v_k - max < LOG_RESP_FLOOR). R is written transposed, R[k * T + i], so
    # the statistics' GEMM reads it as a plain (K x T) matrix; v is a
    # scratch row of K doubles. Returns the sum of log p(x) over the tile and
    # optionally stores log p(x) and argmax_k v_k per row.
    #
    # With ``refine`` (float32 diag/spherical/tied), the components within
    # REFINE_MARGIN of the row's best get v_k recomputed as
    # cst2_k - 0.5 * _exact_quad(...): the GEMM expansion |x|^2 p - 2 x.mu p
    # + |mu|^2 p cancels in float32 when x is far from the center, and
    # only these components reach the log-likelihood and the responsibilities.
    # Rows whose expansion error bound, REFINE_EPS * (pmax * q + cmax) with q
    # the row's |xc|**2 (|xc @ U|**2 for tied, pmax = 1) and cmax the largest
    # |mc|**2 term, is below REFINE_TOL are left as they are.
    cdef int i, k, arg
    cdef double t, q, mx, s, inv, lp, total = 0.0
    for i in range(T):
        mx = -INFINITY
        arg = 0
        for k in range(K):
            t = <double>L[i * K + k] + cst[k]
            v[k] = t
            if t > mx:
                mx = t
                arg = k
        if refine >= 0:
            if refine == DIAG:
                q = _sum4(Y + i * ldy + d, d)
            else:
                q = Y[i * ldy + d]
        if refine >= 0 and REFINE_EPS * (pmax * q + cmax) > REFINE_TOL:
            t = mx - REFINE_MARGIN
            mx = -INFINITY
            for k in range(K):
                if v[k] > t:
                    v[k] = cst2[k] - 0.5 * _exact_quad(refine, X + i * d, Y + i * ldy,
                                                       means + k * d, E + k * d, d)
                if v[k] > mx:
                    mx = v[k]
                    arg = k
        s = 0.0
        for k in range(K):
            t = v[k] - mx
            t = 0.0 if t < LOG_RESP_FLOOR else exp(t)
            v[k] = t
            s += t
        lp = mx + log(s)
        inv = 1.0 / s
        for k in range(K):
            R[k * T + i] = v[k] * inv
        if lpn != NULL:
            lpn[i] = lp
        if labels != NULL:
            labels[i] = arg
        total += lp
    return total


cdef void _stats(const floating* X, int T, int d, int K, int cov,
                 const floating* shift, int shift_stride, const double* R,
                 const floating* Z, const floating* F, double* G,
                 double* acc1, double* acc2) noexcept nogil:
    # Adds this tile's sufficient statistics, r_ik = R[k * T + i] (K x T):
    #   diag       acc1 (K x 2d+1) += R @ [xc, xc**2, 1]
    #   spherical  acc1 (K x d+2)  += R @ [xc, |xc|**2, 1]
    #   tied       acc1 (K x d+1)  += R @ [xc, 1]
    #   full       acc1 (K x d+1)  += [sum_i r_ik (x_i - c_k), sum_i r_ik]
    #              acc2 (K x d x d) += sum_i r_ik (x_i - c_k)(x_i - c_k).T
    # where F / Z hold the tile's features (see _features) and
    # c_k = shift[k * shift_stride] (d values).
    cdef int i, j, k, m, ns
    cdef double r, sr, z
    cdef const floating* S
    cdef const double* Gp
    if cov != FULL:
        ns = 2 * d + 1 if cov == DIAG else (d + 2 if cov == SPHERICAL else d + 1)
        S = Z if cov == TIED else F
        if floating is double:
            Gp = S
        else:
            # float32 features to float64, the squares recomputed in float64
            # from the (exact) float32 xc: the second moments then carry no
            # float32 rounding into the M-step's subtraction
            for i in range(T * ns):
                G[i] = S[i]
            if cov == DIAG:
                for i in range(T):
                    for j in range(d):
                        G[i * ns + d + j] = G[i * ns + j] * G[i * ns + j]
            elif cov == SPHERICAL:
                for i in range(T):
                    G[i * ns + d] = _sumsq(G + i * ns, d)
            Gp = G
        _gemm64(c'n', c'n', K, ns, T, R, T, Gp, ns, acc1, ns)
        return
    # full: rows with a zero responsibility add exactly nothing; skip them
    for k in range(K):
        m = 0
        for i in range(T):
            r = R[k * T + i]
            if r > 0:
                sr = sqrt(r)
                for j in range(d):
                    z = <double>X[i * d + j] - <double>shift[k * shift_stride + j]
                    G[m * d + j] = sr * z
                    acc1[k * (d + 1) + j] += r * z
                acc1[k * (d + 1) + d] += r
                m = m + 1
        if m > 0:
            _syrk_acc(d, m, G, acc2 + k * d * d)


def _widths(int cov, int d):
    # (width of F, width of Z, width of acc1) per row, see _features/_stats
    if cov == DIAG:
        return 2 * d + 1, 1, 2 * d + 1
    if cov == SPHERICAL:
        return d + 2, 1, d + 2
    if cov == TIED:
        return d + 1, d + 1, d + 1
    return d, d, d + 1


def em_pass(const floating[:, ::1] X, int cov, const floating[::1] center,
            const floating[:, ::1] means, const floating[:, :, ::1] chol,
            const floating[:, ::1] W, const double[::1] cst, const double[:, ::1] E,
            const double[::1] cst2, double pmax, double cmax, bint want_stats,
            double[::1] out_lpn, Py_ssize_t[::1] out_labels,
            floating[:, ::1] out_proba, int tile, int n_threads):
    """The fused pass; see the module docstring and fastfactor.kernels.

    ``out_lpn``/``out_labels``/``out_proba`` of length 0 are not written.
    ``E``/``cst2`` (K x d, K) non-empty turn on the exact recomputation of
    the best components' log-probabilities (see ``_log_sum_exp``).
    Returns ``(sum of log p(x), acc1, acc2)``; the last two only when
    ``want_stats`` (else None), summed over blocks in block order.
    """
    cdef int n = X.shape[0], d = X.shape[1], K = cst.shape[0]
    cdef int n_tiles = (n + tile - 1) // tile
    cdef int b, t, tid, start, T, i, k, n_blocks, per_block
    cdef int fw, zw, aw
    fw, zw, aw = _widths(cov, d)
    acc_doubles = 1 + (K * aw + (K * d * d if cov == FULL else 0) if want_stats else 0)
    n_blocks, per_block = blocks(n_tiles, acc_doubles, n_threads)
    n_threads = max(1, min(n_threads, n_blocks))
    dtype = np.float32 if floating is float else np.float64
    # per-thread workspaces
    cdef floating[:, ::1] Fw = np.empty((n_threads, tile * fw), dtype=dtype)
    cdef floating[:, ::1] Zw = np.empty((n_threads, tile * zw), dtype=dtype)
    cdef floating[:, ::1] Lw = np.empty((n_threads, tile * K), dtype=dtype)
    cdef double[:, ::1] Rw = np.empty((n_threads, tile * K + K))
    cdef double[:, ::1] Gw = np.empty((n_threads, tile * fw if want_stats else 1))
    # per-block accumulators
    cdef double[::1] ll = np.zeros(n_blocks)
    cdef double[:, ::1] acc1 = np.zeros((n_blocks, K * aw if want_stats else 1))
    cdef double[:, ::1] acc2 = np.zeros(
        (n_blocks, K * d * d if want_stats and cov == FULL else 1))
    cdef const floating* U = &chol[0, 0, 0] if chol.shape[0] > 0 else NULL
    cdef bint w_lpn = out_lpn.shape[0] > 0
    cdef bint w_labels = out_labels.shape[0] > 0
    cdef bint w_proba = out_proba.shape[0] > 0
    cdef int refine = cov if E.shape[0] > 0 and cov != FULL else -1
    cdef const double* Ep = &E[0, 0] if refine >= 0 else NULL
    cdef const double* cst2p = &cst2[0] if refine >= 0 else NULL
    cdef double* R

    with nogil:
        for b in prange(n_blocks, schedule='dynamic', chunksize=1, num_threads=n_threads):
            tid = threadid()
            R = &Rw[tid, 0]
            for t in range(b * per_block, min(n_tiles, (b + 1) * per_block)):
                start = t * tile
                T = min(tile, n - start)
                _log_prob(&X[start, 0], T, d, K, cov, &center[0], U, &W[0, 0],
                          &Zw[tid, 0], &Fw[tid, 0], &Lw[tid, 0])
                ll[b] += _log_sum_exp(&Lw[tid, 0], &cst[0], T, K, R, R + T * K,
                                      &out_lpn[start] if w_lpn else NULL,
                                      &out_labels[start] if w_labels else NULL,
                                      refine, &X[start, 0], &Fw[tid, 0], fw,
                                      &means[0, 0], Ep, cst2p, pmax, cmax, d)
                if w_proba:
                    for i in range(T):
                        for k in range(K):
                            out_proba[start + i, k] = <floating>R[k * T + i]
                if want_stats:
                    _stats(&X[start, 0], T, d, K, cov, &means[0, 0], d, R, &Zw[tid, 0],
                           &Fw[tid, 0], &Gw[tid, 0], &acc1[b, 0], &acc2[b, 0])

    total = float(np.sum(ll))
    if not want_stats:
        return total, None, None
    return (total, np.asarray(acc1).sum(axis=0),
            np.asarray(acc2).sum(axis=0) if cov == FULL else None)


def resp_stats(const floating[:, ::1] X, const floating[:, ::1] resp, int cov,
               const floating[::1] center, int tile, int n_threads):
    """Sufficient statistics for given responsibilities (initialization).

    Same statistics as :func:`em_pass`, all accumulated around ``center``
    (full included). Returns ``(acc1, acc2)``.
    """
    cdef int n = X.shape[0], d = X.shape[1], K = resp.shape[1]
    cdef int n_tiles = (n + tile - 1) // tile
    cdef int b, t, tid, start, T, i, k, n_blocks, per_block
    cdef int fw, zw, aw
    fw, zw, aw = _widths(cov, d)
    n_blocks, per_block = blocks(n_tiles, K * aw + (K * d * d if cov == FULL else 0),
                                 n_threads)
    n_threads = max(1, min(n_threads, n_blocks))
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] Fw = np.empty((n_threads, tile * fw), dtype=dtype)
    cdef floating[:, ::1] Zw = np.empty((n_threads, tile * zw), dtype=dtype)
    cdef double[:, ::1] Rw = np.empty((n_threads, tile * K))
    cdef double[:, ::1] Gw = np.empty((n_threads, tile * fw))
    cdef double[:, ::1] acc1 = np.zeros((n_blocks, K * aw))
    cdef double[:, ::1] acc2 = np.zeros((n_blocks, K * d * d if cov == FULL else 1))
    cdef double* R
    with nogil:
        for b in prange(n_blocks, schedule='dynamic', chunksize=1, num_threads=n_threads):
            tid = threadid()
            R = &Rw[tid, 0]
            for t in range(b * per_block, min(n_tiles, (b + 1) * per_block)):
                start = t * tile
                T = min(tile, n - start)
                for i in range(T):
                    for k in range(K):
                        R[k * T + i] = resp[start + i, k]
                if cov == TIED:
                    # (tied needs only Z = [xc, 1]; U is not used here)
                    _center(&X[start, 0], T, d, &center[0], &Zw[tid, 0], d + 1)
                elif cov != FULL:
                    _features(&X[start, 0], T, d, cov, &center[0], NULL, &Zw[tid, 0],
                              &Fw[tid, 0])
                _stats(&X[start, 0], T, d, K, cov, &center[0], 0, R, &Zw[tid, 0],
                       &Fw[tid, 0], &Gw[tid, 0], &acc1[b, 0], &acc2[b, 0])
    return (np.asarray(acc1).sum(axis=0),
            np.asarray(acc2).sum(axis=0) if cov == FULL else None)
