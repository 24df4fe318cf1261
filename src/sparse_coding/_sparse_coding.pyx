"""Sparse-coding kernels: soft-threshold, Gram lasso CD, Gram OMP, FISTA prox step.

Every function here trusts its inputs (shapes, dtypes, contiguity); the
Python layer in ``fastfactor.kernels`` documents them and
``fastfactor._validation`` makes that trust safe.

Notation: ``D`` is the dictionary (n_components x n_features, one atom per
row), ``X`` the signals (n_samples x n_features). The Python side computes
the BLAS-3 products once::

    G  = D @ D.T        # (n_components, n_components), the Gram matrix
    XD = X @ D.T        # (n_samples, n_components), the correlations

and the per-signal work below only touches G, one row of XD and small
per-thread buffers. Signals are independent, so the results of the
per-signal kernels do not depend on the number of threads at all. Signals
are handed out dynamically (their costs differ a lot: a signal with many
active atoms takes longer), which does not affect the results.
"""
from cython.parallel cimport prange, parallel
from libc.math cimport fabs, sqrt
from libc.stdlib cimport malloc, free
from libc.string cimport memset

from _fused cimport floating

import numpy as np

# Rows per block in the column reductions of soft_threshold_grad: the
# blocks, not the threads, fix the summation order, so the result is the
# same for every thread count.
cdef Py_ssize_t ROW_BLOCK = 64
# Sweeps per round while the lasso working set is still growing.
cdef int ROUND_SWEEPS = 10


# --------------------------------------------------------------------------
# soft-threshold
# --------------------------------------------------------------------------
def soft_threshold(const floating[:, ::1] Z, const double[::1] threshold,
                   floating[:, ::1] out, bint positive, int n_threads):
    # out = sign(Z) * max(|Z| - t, 0)      (plain)
    # out = max(Z - t, 0)                  (positive)
    # with t = threshold[j] for column j. ``out`` may be Z itself.
    cdef Py_ssize_t n = Z.shape[0], k = Z.shape[1], i, j
    cdef double z, t
    if n == 0 or k == 0:
        return
    with nogil:
        for i in prange(n, schedule='static', num_threads=n_threads):
            for j in range(k):
                z = Z[i, j]
                t = threshold[j]
                if positive:
                    out[i, j] = <floating>(z - t) if z > t else 0
                elif z > t:
                    out[i, j] = <floating>(z - t)
                elif z < -t:
                    out[i, j] = <floating>(z + t)
                else:
                    out[i, j] = 0


def soft_threshold_grad(const floating[:, ::1] Z, const floating[:, ::1] grad_out,
                        const double[::1] threshold, floating[:, ::1] grad_Z,
                        double[::1] grad_threshold, bint positive, int n_threads):
    # Backward pass of soft_threshold, given dL/d(out) in grad_out:
    #   grad_Z[i, j]       = grad_out[i, j] * active[i, j]
    #   grad_threshold[j]  = -sum_i grad_out[i, j] * s[i, j] * active[i, j]
    # where active = |Z| > t (Z > t when positive) and s = sign(Z).
    cdef Py_ssize_t n = Z.shape[0], k = Z.shape[1], i, j, b, start, stop
    cdef Py_ssize_t n_blocks = (n + ROW_BLOCK - 1) // ROW_BLOCK
    cdef double z, t, g
    cdef double[:, ::1] partial = np.zeros((max(n_blocks, 1), k))
    if n == 0 or k == 0:
        grad_threshold[:] = 0
        return
    with nogil:
        for b in prange(n_blocks, schedule='static', num_threads=n_threads):
            start = b * ROW_BLOCK
            stop = min(start + ROW_BLOCK, n)
            for i in range(start, stop):
                for j in range(k):
                    z = Z[i, j]
                    t = threshold[j]
                    g = grad_out[i, j]
                    if z > t:
                        grad_Z[i, j] = <floating>g
                        partial[b, j] -= g
                    elif z < -t and not positive:
                        grad_Z[i, j] = <floating>g
                        partial[b, j] += g
                    else:
                        grad_Z[i, j] = 0
        # fixed-order reduction over blocks
        for j in range(k):
            grad_threshold[j] = 0
        for b in range(n_blocks):
            for j in range(k):
                grad_threshold[j] += partial[b, j]


# --------------------------------------------------------------------------
# lasso by coordinate descent on the Gram matrix
# --------------------------------------------------------------------------
cdef inline double _cd_update(double qj, double Gcj, double wj, double gjj, double alpha,
                              bint positive) noexcept nogil:
    # Coordinate j minimizing the lasso with the others fixed, from q_j, (G c)_j,
    # its current value wj and gjj = G[j, j] > 0:
    # argmin_w 0.5 * gjj * w^2 - tmp * w + alpha * |w|   (w >= 0 if positive)
    cdef double tmp = qj - Gcj + wj * gjj
    if tmp > alpha:
        return (tmp - alpha) / gjj
    if positive or tmp >= -alpha:
        return 0.0
    return (tmp + alpha) / gjj


cdef void _gram_times(const floating* G, const double* c, double* Gc,
                      Py_ssize_t k) noexcept nogil:
    # Gc = G @ c, visiting only the non-zeros of c (G is symmetric, so the
    # rows of G are its columns).
    cdef Py_ssize_t j, l
    cdef double cj
    cdef const floating* row
    for l in range(k):
        Gc[l] = 0.0
    for j in range(k):
        cj = c[j]
        if cj != 0.0:
            row = G + j * k
            for l in range(k):
                Gc[l] += cj * row[l]


cdef double _lasso_gap(const double* c, const double* Gc, const floating* q,
                       Py_ssize_t k, double y_norm2, double alpha,
                       bint positive) noexcept nogil:
    # Duality gap of  0.5 ||y - D^T c||^2 + alpha ||c||_1  written with
    # G = D D^T, q = D y (scikit-learn's formulation A, enet_coordinate_descent_gram).
    cdef Py_ssize_t j
    cdef double qc = 0.0, cGc = 0.0, l1 = 0.0, dual_norm = 0.0, r, R2
    cdef double primal, dual, scale
    if positive:
        dual_norm = -1e300
    for j in range(k):
        qc += c[j] * q[j]
        cGc += c[j] * Gc[j]
        l1 += fabs(c[j])
        r = q[j] - Gc[j]                    # (D (y - D^T c))_j
        if alpha == 0.0:
            dual_norm += r * r
        elif positive:
            if r > dual_norm:
                dual_norm = r
        elif fabs(r) > dual_norm:
            dual_norm = fabs(r)
    if alpha == 0.0:
        # no dual gap for least squares: the squared gradient norm
        return dual_norm
    R2 = y_norm2 + cGc - 2.0 * qc              # ||y - D^T c||^2
    primal = 0.5 * R2 + alpha * l1
    scale = alpha / dual_norm if dual_norm > alpha else 1.0
    dual = -0.5 * scale * scale * R2 + scale * (y_norm2 - qc)
    return primal - dual


cdef Py_ssize_t _pick_violators(const double* c, const double* Gc, const floating* q,
                                Py_ssize_t k, double alpha, bint positive,
                                Py_ssize_t* active, Py_ssize_t n_active,
                                Py_ssize_t max_new, double* score,
                                Py_ssize_t* cand) noexcept nogil:
    """Append to active[:n_active] the (at most max_new) worst KKT violators.

    A zero coordinate j violates the optimality conditions when
    |q_j - Gc_j| > alpha (q_j - Gc_j > alpha when positive). The worst ones
    (largest violation, lowest index on ties) enter, in index order of
    selection. Returns the new size of the active set.
    """
    cdef Py_ssize_t j, s, n_cand = 0, best_s
    cdef double r, v, best
    for j in range(k):
        if c[j] != 0.0:
            continue
        r = q[j] - Gc[j]
        v = r if positive else fabs(r)
        if v > alpha:
            cand[n_cand] = j
            score[n_cand] = v
            n_cand += 1
    if n_cand <= max_new:
        for s in range(n_cand):
            active[n_active] = cand[s]
            n_active += 1
        return n_active
    for j in range(max_new):
        best = -1.0
        best_s = 0
        for s in range(n_cand):
            if score[s] > best:
                best = score[s]
                best_s = s
        active[n_active] = cand[best_s]
        n_active += 1
        score[best_s] = -1.0
    return n_active


cdef inline void _track_change(double new, double old, double* d_w_max,
                               double* w_max) noexcept nogil:
    # the largest coordinate change and the largest |coordinate| of a sweep
    if fabs(new - old) > d_w_max[0]:
        d_w_max[0] = fabs(new - old)
    if fabs(new) > w_max[0]:
        w_max[0] = fabs(new)


cdef (double, double) _sweep_packed(const double* GA, const double* qA, double* cA,
                                    double* GcA, Py_ssize_t a, double alpha,
                                    bint positive) noexcept nogil:
    # one cyclic sweep over a working set packed contiguously:
    # GA = G[A, A] (a x a), qA = q[A], cA = c[A], GcA = (G c)[A]
    cdef Py_ssize_t s, l
    cdef double gjj, wj, new, delta, w_max = 0.0, d_w_max = 0.0
    cdef const double* row
    for s in range(a):
        row = GA + s * a
        gjj = row[s]
        if gjj == 0.0:
            continue
        wj = cA[s]
        new = _cd_update(qA[s], GcA[s], wj, gjj, alpha, positive)
        if new != wj:
            delta = new - wj
            for l in range(a):
                GcA[l] += delta * row[l]
            cA[s] = new
        _track_change(new, wj, &d_w_max, &w_max)
    return d_w_max, w_max


cdef (double, double) _sweep_gather(const floating* G, const floating* q, double* c,
                                    double* Gc, Py_ssize_t k, const Py_ssize_t* active,
                                    Py_ssize_t a, double alpha,
                                    bint positive) noexcept nogil:
    # the same sweep reading G in place (for working sets too big to pack)
    cdef Py_ssize_t s, l, j
    cdef double gjj, wj, new, delta, w_max = 0.0, d_w_max = 0.0
    cdef const floating* row
    for s in range(a):
        j = active[s]
        row = G + j * k
        gjj = row[j]
        if gjj == 0.0:
            continue
        wj = c[j]
        new = _cd_update(q[j], Gc[j], wj, gjj, alpha, positive)
        if new != wj:
            delta = new - wj
            for l in range(a):
                Gc[active[l]] += delta * row[active[l]]
            c[j] = new
        _track_change(new, wj, &d_w_max, &w_max)
    return d_w_max, w_max


cdef void _cholesky_solve(const double* L, Py_ssize_t ld, Py_ssize_t n,
                          double* x) noexcept nogil:
    # x <- (L L^T)^{-1} x for L lower triangular (row-major, leading dimension
    # ld): forward then backward substitution
    cdef Py_ssize_t s, t
    cdef double acc
    for s in range(n):
        acc = x[s]
        for t in range(s):
            acc -= L[s * ld + t] * x[t]
        x[s] = acc / L[s * ld + s]
    for s in range(n - 1, -1, -1):
        acc = x[s]
        for t in range(s + 1, n):
            acc -= L[t * ld + s] * x[t]
        x[s] = acc / L[s * ld + s]


cdef void _pack_working_set(const floating* G, const floating* q, const double* c,
                            const double* Gc, Py_ssize_t k, const Py_ssize_t* active,
                            Py_ssize_t a, double* GA, double* cA, double* GcA,
                            double* qA) noexcept nogil:
    # GA = G[A, A], cA = c[A], GcA = (G c)[A], qA = q[A], contiguous
    cdef Py_ssize_t s, l
    cdef const floating* row
    for s in range(a):
        row = G + active[s] * k
        for l in range(a):
            GA[s * a + l] = row[active[l]]
        cA[s] = c[active[s]]
        GcA[s] = Gc[active[s]]
        qA[s] = q[active[s]]


cdef int _solve_on_support(double* GA, const double* qA, double* cA, double* x,
                           Py_ssize_t a, double alpha) noexcept nogil:
    """One active-set step: towards the lasso solution on the support of cA.

    On the non-zeros A of cA with their signs s, the lasso objective is the
    quadratic 0.5 c'G_AA c - (q_A - alpha s)'c, minimized by the solution x
    of G_AA x = q_A - alpha s (one Cholesky solve, a^3 / 6 multiply-adds,
    instead of the many sweeps cyclic coordinate descent takes on a large
    or correlated support). If x keeps every sign it is the minimizer of
    the lasso restricted to A and replaces cA (returns 1). Otherwise cA moves
    along the segment towards x up to the first coefficient that reaches
    zero, which is dropped (returns 2): the objective decreases on the way,
    since it is that same quadratic on the segment. Returns 0, cA untouched,
    when G_AA is not numerically positive definite. GA's lower triangle is
    overwritten by the Cholesky factor.
    """
    cdef Py_ssize_t i, j, p, first = -1
    cdef double d, t, step = 1.0
    cdef double* Li
    cdef double* Lj
    # GA = L L^T in place (row-major lower triangle; the dot products run
    # along contiguous rows)
    for j in range(a):
        Lj = GA + j * a
        d = Lj[j]
        for p in range(j):
            d -= Lj[p] * Lj[p]
        if not d > 1e-10 * Lj[j]:      # (also catches Lj[j] <= 0)
            return 0
        Lj[j] = sqrt(d)
        for i in range(j + 1, a):
            Li = GA + i * a
            d = Li[j]
            for p in range(j):
                d -= Li[p] * Lj[p]
            Li[j] = d / Lj[j]
    # x = G_AA^{-1} (q_A - alpha s)
    for i in range(a):
        x[i] = qA[i] - (alpha if cA[i] > 0.0 else -alpha)
    _cholesky_solve(GA, a, a, x)
    # the longest step towards x that keeps every sign
    for i in range(a):
        if (cA[i] > 0.0 and not x[i] > 0.0) or (cA[i] < 0.0 and not x[i] < 0.0):
            t = cA[i] / (cA[i] - x[i])
            if t < step:
                step = t
                first = i
    if first < 0:
        for i in range(a):
            cA[i] = x[i]
        return 1
    for i in range(a):
        cA[i] += step * (x[i] - cA[i])
    cA[first] = 0.0
    return 2


cdef void _lasso_one(floating* c_io, const floating* G, const floating* q,
                     Py_ssize_t k, double y_norm2, double alpha, double tol,
                     int max_iter, bint positive, double* c, double* Gc,
                     Py_ssize_t* active, double* score, Py_ssize_t* cand,
                     double* GA, double* cA, double* GcA, double* qA, double* xA,
                     Py_ssize_t cap, int* n_iter_out, double* gap_out) noexcept nogil:
    """Lasso for one signal by cyclic coordinate descent over a working set.

    Each outer round recomputes Gc = G @ c exactly (O(k * nnz)), checks the
    duality gap (scikit-learn's stopping rule: gap <= tol * ||y||^2), and
    builds the working set: the non-zeros plus the worst violators of the
    optimality conditions among the zeros (at most max(16, 2 nnz) new ones, so
    a cold start does not flood it). Then cyclic coordinate descent sweeps
    run over the working set only, keeping Gc on it alone (O(|A|^2) per
    sweep), until the largest update of a sweep is below tol times the
    largest coefficient (scikit-learn's inner test), or for at most
    ROUND_SWEEPS sweeps while the working set is still growing. Coordinates
    outside the working set stay zero; when none violates, the sweeps
    tighten their test instead. Every sweep and every round counts as an iteration.

    When no zero violates and the working set (the non-zeros) fits the
    packed buffers, the round first takes an active-set step on that support
    (:func:`_solve_on_support`): to the exact solution there, or, if a sign
    would flip, as far as the first coefficient reaching zero, which leaves
    the support; the next round's gap and violators decide what follows.
    A singular G[A, A] falls back to the sweeps, and so does an exact step
    whose gap is still too large (it is tried again after those sweeps).
    """
    cdef Py_ssize_t j, l, s, n_active, nnz
    cdef int n_iter = 0, sweeps, round_sweeps, outcome
    cdef bint packed, solved_last = False
    cdef double tol_abs = tol * y_norm2, inner_tol = tol
    cdef double gap, w_max, d_w_max
    cdef const floating* row
    for j in range(k):
        c[j] = c_io[j]
    while True:
        _gram_times(G, c, Gc, k)
        gap = _lasso_gap(c, Gc, q, k, y_norm2, alpha, positive)
        if (gap <= tol_abs and (n_iter > 0 or gap >= 0.0)) or n_iter >= max_iter:
            break
        n_iter += 1
        # working set: non-zeros, then the worst violators among the zeros
        nnz = 0
        for j in range(k):
            if c[j] != 0.0:
                active[nnz] = j
                nnz += 1
        n_active = _pick_violators(c, Gc, q, k, alpha, positive, active, nnz,
                                   max(16, 2 * nnz), score, cand)
        # gather the working set into contiguous buffers when it fits
        packed = n_active <= cap
        if packed:
            _pack_working_set(G, q, c, Gc, k, active, n_active, GA, cA, GcA, qA)
        if n_active == nnz:
            if packed and nnz > 0 and not solved_last:
                # nothing to add: step to the exact solution on this support
                # (or as far towards it as the signs allow)
                outcome = _solve_on_support(GA, qA, cA, xA, n_active, alpha)
                if outcome:
                    for s in range(n_active):
                        c[active[s]] = cA[s]
                    solved_last = outcome == 1
                    continue
                # singular: GA holds part of a factor, pack G[A, A] again for the sweeps
                _pack_working_set(G, q, c, Gc, k, active, n_active, GA, cA, GcA, qA)
            inner_tol *= 0.1     # solve the working set more tightly
            round_sweeps = max_iter
        else:
            # the working set just grew and may grow again: a few sweeps, then
            # look again, rather than solving a set that is still changing exactly
            round_sweeps = ROUND_SWEEPS
        solved_last = False
        # cyclic coordinate descent over the working set
        sweeps = 0
        while n_iter < max_iter and sweeps < round_sweeps:
            n_iter += 1
            sweeps += 1
            if packed:
                d_w_max, w_max = _sweep_packed(GA, qA, cA, GcA, n_active, alpha, positive)
            else:
                d_w_max, w_max = _sweep_gather(G, q, c, Gc, k, active, n_active, alpha,
                                               positive)
            if w_max == 0.0 or d_w_max <= inner_tol * w_max:
                break
        if packed:
            for s in range(n_active):
                c[active[s]] = cA[s]
    for j in range(k):
        c_io[j] = <floating>c[j]
    n_iter_out[0] = n_iter
    gap_out[0] = gap


def lasso_cd_gram(floating[:, ::1] C, const floating[:, ::1] G,
                  const floating[:, ::1] XD, const double[::1] x_sqnorms,
                  double alpha, double tol, int max_iter, bint positive,
                  int[::1] n_iter, double[::1] gaps, Py_ssize_t pack_cap, int n_threads):
    # Working sets of up to pack_cap atoms are packed into a contiguous
    # per-thread copy of G[A, A] (pack_cap^2 doubles); larger ones read G in place.
    cdef Py_ssize_t n = C.shape[0], k = C.shape[1], i
    cdef double* c
    cdef double* Gc
    cdef double* score
    cdef double* GA
    cdef double* cA
    cdef double* GcA
    cdef double* qA
    cdef double* xA
    cdef Py_ssize_t* active
    cdef Py_ssize_t* cand
    cdef Py_ssize_t cap = min(k, pack_cap)
    if n == 0 or k == 0:
        return
    with nogil, parallel(num_threads=n_threads):
        GA = <double*>malloc(max(cap * cap, 1) * sizeof(double))
        cA = <double*>malloc(max(cap, 1) * sizeof(double))
        GcA = <double*>malloc(max(cap, 1) * sizeof(double))
        qA = <double*>malloc(max(cap, 1) * sizeof(double))
        xA = <double*>malloc(max(cap, 1) * sizeof(double))
        c = <double*>malloc(k * sizeof(double))
        Gc = <double*>malloc(k * sizeof(double))
        score = <double*>malloc(k * sizeof(double))
        active = <Py_ssize_t*>malloc(k * sizeof(Py_ssize_t))
        cand = <Py_ssize_t*>malloc(k * sizeof(Py_ssize_t))
        for i in prange(n, schedule='dynamic', chunksize=4):
            _lasso_one(&C[i, 0], &G[0, 0], &XD[i, 0], k, x_sqnorms[i], alpha, tol,
                       max_iter, positive, c, Gc, active, score, cand,
                       GA, cA, GcA, qA, xA, cap, &n_iter[i], &gaps[i])
        free(c)
        free(Gc)
        free(score)
        free(active)
        free(cand)
        free(GA)
        free(cA)
        free(GcA)
        free(qA)
        free(xA)


# --------------------------------------------------------------------------
# orthogonal matching pursuit on the Gram matrix
# --------------------------------------------------------------------------
cdef int _omp_one(floating* c_out, const floating* G, const floating* q,
                  Py_ssize_t k, int max_features, double tol, double tol_0,
                  double eps, double* res, double* L, double* gamma, double* w,
                  Py_ssize_t* idx, char* used) noexcept nogil:
    """Greedy OMP for one signal (scikit-learn's _gram_omp, without the swaps).

    res = q - G[:, S] gamma holds the correlations of the residual with
    every atom; L is the Cholesky factor of G[S, S] (row-major, leading
    dimension max_features), grown by one row per selected atom.
    Stops after max_features atoms, when the best atom is already selected
    or its correlation is negligible, when the new atom is linearly
    dependent on the selected ones, or (tol >= 0) when the squared
    residual norm falls to tol.
    """
    cdef Py_ssize_t j, s, t, lam, m = max_features
    cdef int n_active = 0
    cdef double best, a, v, Lkk, acc, tol_curr = tol_0, delta = 0.0
    cdef const floating* row
    for j in range(k):
        res[j] = q[j]
        used[j] = 0
    while n_active < m:
        # lam = argmax |res| (first one on ties)
        lam = 0
        best = -1.0
        for j in range(k):
            a = fabs(res[j])
            if a > best:
                best = a
                lam = j
        if used[lam] or best * best < eps:
            break                       # same atom twice, or nothing left to explain
        row = G + lam * k
        if n_active > 0:
            # w = L^{-1} G[S, lam]   (forward substitution)
            v = 0.0
            for s in range(n_active):
                acc = row[idx[s]]
                for t in range(s):
                    acc -= L[s * m + t] * w[t]
                w[s] = acc / L[s * m + s]
                v += w[s] * w[s]
            Lkk = row[lam] - v
            if Lkk <= eps:
                break                   # the new atom depends on the selected ones
            for s in range(n_active):
                L[n_active * m + s] = w[s]
            L[n_active * m + n_active] = sqrt(Lkk)
        else:
            L[0] = sqrt(row[lam])
        idx[n_active] = lam
        used[lam] = 1
        n_active += 1
        # gamma = (L L^T)^{-1} q[S]
        for s in range(n_active):
            gamma[s] = q[idx[s]]
        _cholesky_solve(L, m, n_active, gamma)
        # res = q - G[:, S] @ gamma
        for j in range(k):
            res[j] = q[j]
        for s in range(n_active):
            row = G + idx[s] * k
            for j in range(k):
                res[j] -= gamma[s] * row[j]
        if tol >= 0.0:
            # squared residual norm, updated as scikit-learn does
            tol_curr += delta
            delta = 0.0
            for s in range(n_active):
                delta += gamma[s] * (q[idx[s]] - res[idx[s]])
            tol_curr -= delta
            if fabs(tol_curr) <= tol:
                break
    for s in range(n_active):
        c_out[idx[s]] = <floating>gamma[s]
    return n_active


def omp_gram(floating[:, ::1] C, const floating[:, ::1] G, const floating[:, ::1] XD,
             int max_features, double tol, const double[::1] x_sqnorms, double eps,
             int[::1] n_active, int n_threads):
    # C must be zero on entry; max_features <= k.
    cdef Py_ssize_t n = C.shape[0], k = C.shape[1], i
    cdef Py_ssize_t m = max_features
    cdef double* res
    cdef double* L
    cdef double* gamma
    cdef double* w
    cdef Py_ssize_t* idx
    cdef char* used
    if n == 0 or k == 0 or m == 0:
        return
    with nogil, parallel(num_threads=n_threads):
        res = <double*>malloc(k * sizeof(double))
        L = <double*>malloc(m * m * sizeof(double))
        gamma = <double*>malloc(m * sizeof(double))
        w = <double*>malloc(m * sizeof(double))
        idx = <Py_ssize_t*>malloc(m * sizeof(Py_ssize_t))
        used = <char*>malloc(k * sizeof(char))
        for i in prange(n, schedule='dynamic', chunksize=4):
            n_active[i] = _omp_one(&C[i, 0], &G[0, 0], &XD[i, 0], k, max_features, tol,
                                   x_sqnorms[i], eps, res, L, gamma, w, idx, used)
        free(res)
        free(L)
        free(gamma)
        free(w)
        free(idx)
        free(used)


# --------------------------------------------------------------------------
# FISTA: proximal step with momentum and adaptive restart
# --------------------------------------------------------------------------
def fista_step(floating[:, ::1] C, floating[:, ::1] Y, const floating[:, ::1] grad,
               double[::1] t, double step, double alpha, bint positive,
               double[::1] change, int n_threads):
    # For each signal (row) i, with grad = Y @ G - XD computed by a GEMM:
    #   c_new = soft_threshold(Y - step * grad, step * alpha)
    #   restart (t = 1, no momentum) when (Y - c_new) . (c_new - C) > 0
    #   t_new = (1 + sqrt(1 + 4 t^2)) / 2
    #   Y     = c_new + (t - 1) / t_new * (c_new - C);  C = c_new
    # change[i] = ||c_new - C||^2 / max(||c_new||^2, tiny)
    cdef Py_ssize_t n = C.shape[0], k = C.shape[1], i, j
    cdef double thr = step * alpha, z, cn, co, restart, diff2, norm2, t_new, beta
    if n == 0 or k == 0:
        return
    with nogil:
        for i in prange(n, schedule='static', num_threads=n_threads):
            restart = 0.0
            diff2 = 0.0
            norm2 = 0.0
            for j in range(k):
                z = Y[i, j] - step * grad[i, j]
                if z > thr:
                    cn = z - thr
                elif z < -thr and not positive:
                    cn = z + thr
                else:
                    cn = 0.0
                co = C[i, j]
                restart = restart + (Y[i, j] - cn) * (cn - co)
                diff2 = diff2 + (cn - co) * (cn - co)
                norm2 = norm2 + cn * cn
                Y[i, j] = <floating>cn        # Y now holds c_new
            if restart > 0.0:
                t[i] = 1.0
                beta = 0.0
            else:
                t_new = (1.0 + sqrt(1.0 + 4.0 * t[i] * t[i])) / 2.0
                beta = (t[i] - 1.0) / t_new
                t[i] = t_new
            for j in range(k):
                cn = Y[i, j]
                co = C[i, j]
                C[i, j] = <floating>cn
                Y[i, j] = <floating>(cn + beta * (cn - co))
            change[i] = diff2 / norm2 if norm2 > 0.0 else diff2
