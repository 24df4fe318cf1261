# Inline helpers the plain and the masked NMF kernels (src/nmf/) share: the
# coordinate sweeps of HALS on one row, and the entry-wise terms of the
# multiplicative update for a beta-divergence.
from libc.float cimport FLT_EPSILON
from libc.math cimport fabs, pow

from _fused cimport floating

# the Gram matrix's type, apart from the factor's (the masked kernels build theirs in float64)
ctypedef fused gram_floating:
    float
    double


cdef inline double hals_row_sweeps(floating* w, double* grad, const gram_floating* G,
                                   const Py_ssize_t* perm, Py_ssize_t k, int max_inner,
                                   double inner_tol,
                                   bint skip_negative_curvature) noexcept nogil:
    """Coordinate sweeps on one row w (length k) of a factor.

    Minimises 0.5 w.G.w - w.b over w >= 0 one coordinate at a time, in the
    order of ``perm``, given the row's gradient ``grad = G.w - b`` (float64,
    length k, updated here). The gradient is kept up to date with one axpy
    per coordinate that moves, instead of a k-term dot product per
    coordinate: the axpy vectorises and is skipped for coordinates pinned at
    zero. Returns the projected-gradient violation of the first sweep
    (scikit-learn's stopping measure). Further sweeps run while they change
    w by more than ``inner_tol`` times the first sweep's change (squared
    norms). A coordinate with zero curvature ``G[t, t]`` is left as it is,
    and so is one with a negative curvature when ``skip_negative_curvature``
    (a Gram matrix built by subtraction can round to one).
    """
    cdef Py_ssize_t s, t, r
    cdef int sweep
    cdef double g, hess, new, delta, change, first_change = 0.0
    cdef double violation = 0.0
    cdef const gram_floating* G_t
    cdef floating old
    for sweep in range(max_inner):
        change = 0.0
        for s in range(k):
            t = perm[s]
            g = grad[t]
            if sweep == 0 and not (w[t] == 0 and g > 0):
                violation += fabs(g)
            hess = G[t * k + t]
            if hess == 0 or (skip_negative_curvature and hess < 0):
                continue
            new = w[t] - g / hess
            if new < 0:
                new = 0.0
            old = w[t]
            w[t] = <floating>new
            delta = <double>w[t] - old
            if delta != 0:
                change += delta * delta
                G_t = G + t * k
                for r in range(k):
                    grad[r] += delta * G_t[r]
        if sweep == 0:
            first_change = change
            if first_change == 0:
                break
        elif change <= inner_tol * first_change:
            break
    return violation


# The multiplicative update's terms take scikit-learn's guard against dividing
# by, or taking negative powers of, zero: wh floored at float32 epsilon.

cdef inline double mu_numerator_term(double x, double wh, double beta) noexcept nogil:
    # x * wh ** (beta - 2), wh floored when beta < 2
    if beta == 2:
        return x
    if beta < 2 and wh < FLT_EPSILON:
        wh = FLT_EPSILON
    if beta == 1:
        return x / wh
    if beta == 0:
        return x / (wh * wh)
    return x * pow(wh, beta - 2)


cdef inline double mu_denominator_term(double wh, double beta) noexcept nogil:
    # wh ** (beta - 1), wh floored when beta < 1
    if beta == 2:
        return wh
    if beta == 1:
        return 1.0
    if beta < 1 and wh < FLT_EPSILON:
        wh = FLT_EPSILON
    if beta == 0:
        return 1.0 / wh
    return pow(wh, beta - 1)
