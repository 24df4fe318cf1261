"""The one place that decides how many threads a kernel uses."""
import os
import threading
from contextlib import contextmanager

from . import _openmp_helpers

_BLAS_LIMIT_LOCK = threading.Lock()
_controller = None
_blas_users = 0
_blas_saved = None


def openmp_enabled():
    """Return True when the compiled kernels were built with OpenMP."""
    return _openmp_helpers.openmp_enabled()


def effective_n_threads(n_threads=None):
    """Resolve a user's ``n_threads`` to a positive thread count.

    Parameters
    ----------
    n_threads : int or None
        ``None`` follows OpenMP's current setting (``OMP_NUM_THREADS``,
        or a ``threadpoolctl.threadpool_limits`` block). A negative value
        counts back from the number of CPUs, as in joblib: ``-1`` means all
        CPUs, ``-2`` all but one.

    Returns
    -------
    int
        At least 1; always 1 when the kernels were built without OpenMP.
    """
    if n_threads is not None:
        if isinstance(n_threads, bool) or not isinstance(n_threads, (int,)) and not (
            hasattr(n_threads, "__index__")
        ):
            raise TypeError(f"n_threads must be an int or None, got {type(n_threads).__name__}")
        n_threads = int(n_threads)
        if n_threads == 0:
            raise ValueError("n_threads must be a non-zero int or None, got 0")
    if not openmp_enabled():
        return 1
    if n_threads is None:
        return max(1, _openmp_helpers.omp_max_threads())
    if n_threads < 0:
        return max(1, (os.cpu_count() or 1) + 1 + n_threads)
    return n_threads


def _get_controller():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


@contextmanager
def single_threaded_blas():
    """Limit BLAS to one thread while kernels call it inside OpenMP regions.

    Kernels that run small GEMMs per row tile, in parallel over tiles,
    would oversubscribe the cores if each GEMM also started BLAS threads.
    Nested and concurrent uses (fits in several Python threads) share one
    limit, which the last one out restores.
    """
    global _blas_users, _blas_saved
    with _BLAS_LIMIT_LOCK:
        if _blas_users == 0:
            _blas_saved = _get_controller().limit(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _BLAS_LIMIT_LOCK:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_saved.restore_original_limits()
                _blas_saved = None
