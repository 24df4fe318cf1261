# Float64 reductions shared by the kernel modules. Four partial sums: one
# running sum is a chain of dependent additions that the compiler may not
# reorder (and so cannot vectorise).
from _fused cimport floating


cdef inline double sqdist(const floating* x, const floating* y, int d) noexcept nogil:
    # sum((x - y) ** 2) in float64
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, t0, t1, t2, t3
    cdef int j = 0
    while j + 4 <= d:
        t0 = <double>x[j] - y[j]
        t1 = <double>x[j + 1] - y[j + 1]
        t2 = <double>x[j + 2] - y[j + 2]
        t3 = <double>x[j + 3] - y[j + 3]
        s0 += t0 * t0
        s1 += t1 * t1
        s2 += t2 * t2
        s3 += t3 * t3
        j += 4
    while j < d:
        t0 = <double>x[j] - y[j]
        s0 += t0 * t0
        j += 1
    return (s0 + s1) + (s2 + s3)
