"""The one place that decides how many threads a kernel uses.

Every threshold below which work runs on one thread lives here: a parallel
region's fork/join costs microseconds on a quiet machine, but on a busy one
each region can wait a whole scheduler slice (milliseconds) for its second
thread, so small calls must not open one.
"""
import math
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


# Below this much work (about one multiply-add per unit, ~1 ms) per thread a
# kernel call runs on fewer threads (see threads_for).
MIN_WORK_PER_THREAD = 1 << 20
# Solvers that pick one thread count for a whole fit of small factors
# (mini-batch steps, deep-NMF layers): below this many entries, one thread.
MIN_PARALLEL_SIZE = 1 << 17


def available_cpus():
    """The number of CPUs this process may run on.

    ``os.cpu_count()`` counts the machine's CPUs; a job scheduler or a
    container usually grants fewer, through the CPU affinity mask
    (``taskset``, SLURM, cpusets) or a cgroup CPU quota (docker/k8s
    ``--cpus``). The smallest of the three is what threads can use.

    Returns
    -------
    int
        At least 1.
    """
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        count = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        count = min(count, quota)
    return max(1, count)


def _cgroup_cpu_quota():
    """CPUs allowed by a cgroup v2 (``cpu.max``) or v1 (``cfs_quota_us``) quota, or None."""
    candidates = [("/sys/fs/cgroup/cpu.max", None),
                  ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")]
    for quota_file, period_file in candidates:
        try:
            with open(quota_file) as f:
                fields = f.read().split()
            if period_file is not None:
                with open(period_file) as f:
                    fields.append(f.read().strip())
        except OSError:
            continue
        if len(fields) < 2 or fields[0] in ("max", "-1"):
            return None
        try:
            quota, period = int(fields[0]), int(fields[1])
        except ValueError:
            return None
        if quota > 0 and period > 0:
            return max(1, math.ceil(quota / period))
    return None


def resolve_n_threads(n_threads=None, n_jobs=None):
    """Combine the ``n_threads`` and ``n_jobs`` spellings of one parameter.

    Every estimator and function takes both: ``n_jobs`` is scikit-learn's
    name, ``n_threads`` fastfactor's. Giving both with different values is
    an error.

    Parameters
    ----------
    n_threads, n_jobs : int or None

    Returns
    -------
    int or None
        The one that was given (None when neither was).
    """
    if n_threads is not None and n_jobs is not None and n_threads != n_jobs:
        raise ValueError(f"n_threads={n_threads!r} and n_jobs={n_jobs!r} are two names for "
                         "the same setting: give one of them.")
    return n_threads if n_threads is not None else n_jobs


def threads_for(work, n_threads):
    """Threads worth using for ``work`` units (about one multiply-add each).

    Parameters
    ----------
    work : int
        The call's work; each thread gets at least ``MIN_WORK_PER_THREAD``.
    n_threads : int or None
        The user's setting (see :func:`effective_n_threads`).

    Returns
    -------
    int
        Between 1 and ``effective_n_threads(n_threads)``.
    """
    n = effective_n_threads(n_threads)
    return max(1, min(n, int(work) // MIN_WORK_PER_THREAD))


def threads_for_size(size, n_threads):
    """``n_threads`` resolved, or 1 when ``size`` entries are too few to share."""
    return 1 if size < MIN_PARALLEL_SIZE else effective_n_threads(n_threads)


def effective_n_threads(n_threads=None):
    """Resolve a user's ``n_threads`` to a positive thread count.

    Parameters
    ----------
    n_threads : int or None
        ``None`` follows OpenMP's current setting (``OMP_NUM_THREADS``,
        or a ``threadpoolctl.threadpool_limits`` block). A negative value
        counts back from the CPUs this process may use
        (:func:`available_cpus`), as in joblib: ``-1`` means all of them,
        ``-2`` all but one.

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
        return max(1, available_cpus() + 1 + n_threads)
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
