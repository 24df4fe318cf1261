"""Compare every compiled kernel with its numpy twin: accuracy and speed.

Used by the test-suite and by ``fastfactor selftest`` on the user's machine.
"""
import copy
import time

import numpy as np

from .. import kernels
from .. import reference
from . import _cases_gmm
from . import _cases_nmf
from . import _cases_nmf_masked
from . import _cases_sparse_coding as _cases_sparse

# one module of cases per kernel family; each maps case name -> case maker.
# A case name is the kernel's name, or "kernel:variant" for several cases
# of one kernel (e.g. one per covariance type).
CASE_MODULES = [_cases_nmf, _cases_nmf_masked, _cases_gmm, _cases_sparse]

# (m, n, k): 1x1, k=1, tall, wide, non-square
SHAPES = [(1, 1, 1), (6, 4, 1), (60, 7, 3), (7, 60, 4), (45, 33, 5)]
RTOL = {np.float32: 2e-4, np.float64: 1e-9}


def family_of(name):
    """The family (case module suffix, e.g. 'nmf') a kernel belongs to."""
    for module in CASE_MODULES:
        if name in module.CASES:
            return module.__name__.rsplit("_cases_", 1)[-1]
    raise KeyError(name)


def all_cases():
    """Return {kernel name: case maker} over every family."""
    cases = {}
    for module in CASE_MODULES:
        cases.update(module.CASES)
    return cases


def kernel_name(case):
    """The kernel a case calls: its name up to any ``:variant``."""
    return case.partition(":")[0]


def _arrays_of(result):
    if result is None:
        return []
    if isinstance(result, tuple):
        return [r for r in result if r is not None]
    return [result]


def _as_dense(a):
    return a.toarray() if hasattr(a, "toarray") else np.asarray(a)


def max_relative_error(name, m, n, k, dtype, seed=0):
    """Run kernel and twin on the same fresh inputs; max error relative to scale.

    Compares return values and every ndarray argument (kernels update some
    in place). Errors are divided by the largest magnitude of the compared
    value, so they are comparable across kernels.
    """
    make = all_cases()[name]
    args, kwargs = make(np.random.default_rng(seed), m, n, k, dtype)
    args_k, args_r = copy.deepcopy(args), copy.deepcopy(args)
    out_k = getattr(kernels, kernel_name(name))(*args_k, **kwargs)
    out_r = getattr(reference, kernel_name(name))(*args_r, **kwargs)
    pairs = list(zip(_arrays_of(out_k), _arrays_of(out_r)))
    pairs += [(a, b) for a, b in zip(args_k, args_r) if isinstance(a, np.ndarray)]
    worst = 0.0
    for a, b in pairs:
        a = np.asarray(_as_dense(a), dtype=np.float64)
        b = np.asarray(_as_dense(b), dtype=np.float64)
        if a.shape != b.shape:
            return np.inf
        if a.size == 0:
            continue
        scale = max(np.abs(b).max(), 1e-30)
        worst = max(worst, float(np.abs(a - b).max() / scale))
    return worst


def _best_time(func, args, kwargs, repeat):
    best = np.inf
    for _ in range(repeat):
        fresh = copy.deepcopy(args)
        start = time.perf_counter()
        func(*fresh, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best


def speedup(name, m=400, n=300, k=16, dtype=np.float64, repeat=3):
    """Best-of-``repeat`` time of the twin divided by that of the kernel."""
    args, kwargs = all_cases()[name](np.random.default_rng(0), m, n, k, dtype)
    t_kernel = _best_time(getattr(kernels, kernel_name(name)), args, kwargs, repeat)
    t_ref = _best_time(getattr(reference, kernel_name(name)), args, kwargs, repeat)
    return t_ref / t_kernel, t_kernel, t_ref


def run(verbose=True, timing=True):
    """Check every kernel on every test shape in float32 and float64.

    Returns
    -------
    ok : bool
        True when every kernel is within tolerance of its twin.
    rows : list of dict
        One row per kernel: worst error per dtype, and speed-up.
    """
    rows = []
    ok = True
    for name in sorted(all_cases()):
        row = {"kernel": name}
        for dtype in (np.float32, np.float64):
            err = max(max_relative_error(name, m, n, k, dtype) for m, n, k in SHAPES)
            row[np.dtype(dtype).name] = err
            ok &= bool(err <= RTOL[dtype])
        if timing:
            row["speedup"], row["kernel_s"], row["reference_s"] = speedup(name)
        rows.append(row)
        if verbose:
            line = f"{name:30s} max rel. error f32 {row['float32']:.1e}  f64 {row['float64']:.1e}"
            if timing:
                line += f"   {row['speedup']:8.1f}x faster than numpy twin"
            print(line, flush=True)
    if verbose:
        print("selftest:", "all kernels agree with their numpy twins" if ok else "FAILED")
    return ok, rows
