"""Query the OpenMP runtime the kernels were built with.

The effective thread count is decided in one place
(:func:`fastfactor._threads.effective_n_threads`), which asks this module
for OpenMP's current setting so that ``threadpoolctl.threadpool_limits``
and ``OMP_NUM_THREADS`` are honoured.
"""


def openmp_enabled():
    """Return True when the compiled kernels were built with OpenMP."""
    return bool(FF_OPENMP_ENABLED)


def omp_max_threads():
    """Return ``omp_get_max_threads()`` (1 when built without OpenMP)."""
    return ff_omp_get_max_threads()
