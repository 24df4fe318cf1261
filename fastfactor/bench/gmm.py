"""Gaussian mixtures side by side with scikit-learn on the DESIGN ``gmm`` problem.

``run(quick=False)`` returns one dict per comparison (see
:mod:`fastfactor.bench`); ``fastfactor bench --only gmm`` and
``benchmarks/compare.py --only gmm`` (which writes ``benchmarks/results/gmm.md``)
run it.

* per EM iteration, each covariance type: the same model (init
  ``random_from_data``, same seed, 20 iterations, tol=0) fitted by both;
  one iteration's time is ``(t(fit, 20 it.) - t(fit, 0 it.)) / 20``, which
  leaves out the initialization and the final E-step, and the note gives
  both lower bounds (they agree to ~1e-15);
* the same per-iteration comparison with one thread each (scikit-learn's
  BLAS limited by threadpoolctl), timed in CPU seconds of the process, which
  a busy machine disturbs much less than wall time;
* the whole fit, and its peak memory (tracemalloc) against scikit-learn's;
* the fit, and one EM pass of the kernel alone, with 2 threads against 1;
* ``predict_proba`` on 1M rows: time and peak memory beyond the output.

Timings are the best of ``repeat`` runs, the two libraries alternating, so
that a busy machine slows both alike.
"""
import os
import time
import tracemalloc
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from .. import datasets
from ..mixture import GaussianMixture

try:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture as SkGMM
except ImportError:  # the comparison needs scikit-learn
    SkGMM = None
    ConvergenceWarning = Warning

COVARIANCE_TYPES = ("diag", "spherical", "tied", "full")


def _params(covariance_type, max_iter, K):
    return dict(n_components=K, covariance_type=covariance_type, max_iter=max_iter, tol=0,
                init_params="random_from_data", random_state=0)


def _fit_time(cls, X, repeat, clock=time.perf_counter, **params):
    best, model = np.inf, None
    for _ in range(repeat):
        model = cls(**params)
        start = clock()
        model.fit(X)
        best = min(best, clock() - start)
    return best, model


def _peak_mb(func):
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def _iteration_times(X, covariance_type, n_iter, K, repeat, one_thread=False):
    """{(library, max_iter): best time} and the fitted models, libraries alternating."""
    clock = time.process_time if one_thread else time.perf_counter
    extra = dict(n_threads=1) if one_thread else {}
    t, models = {}, {}
    with threadpool_limits(1 if one_thread else None, user_api="blas"):
        for it in (n_iter, 0):
            for _ in range(repeat):
                for name, cls, kw in (("sklearn", SkGMM, {}),
                                      ("fastfactor", GaussianMixture, extra)):
                    seconds, model = _fit_time(cls, X, 1, clock=clock,
                                               **_params(covariance_type, it, K), **kw)
                    t[name, it] = min(t.get((name, it), np.inf), seconds)
                    if it:
                        models[name] = model
    return t, models


def per_iteration(X, covariance_type, n_iter, K, repeat):
    """Fit time, per-iteration time and lower bounds of both libraries."""
    t, models = _iteration_times(X, covariance_type, n_iter, K, repeat)
    it_ff = (t["fastfactor", n_iter] - t["fastfactor", 0]) / n_iter
    it_sk = (t["sklearn", n_iter] - t["sklearn", 0]) / n_iter
    lb_ff, lb_sk = models["fastfactor"].lower_bound_, models["sklearn"].lower_bound_
    rows = [
        dict(problem="gmm", what=f"{covariance_type}: one EM iteration",
             fastfactor_s=it_ff, sklearn_s=it_sk, speedup=it_sk / it_ff,
             note=f"lower bound {lb_ff:.10g} vs {lb_sk:.10g}"),
        dict(problem="gmm", what=f"{covariance_type}: fit, {n_iter} iterations",
             fastfactor_s=t["fastfactor", n_iter], sklearn_s=t["sklearn", n_iter],
             speedup=t["sklearn", n_iter] / t["fastfactor", n_iter],
             note="init random_from_data, whole fit"),
    ]
    t1, _ = _iteration_times(X, covariance_type, n_iter, K, repeat, one_thread=True)
    it_ff1 = (t1["fastfactor", n_iter] - t1["fastfactor", 0]) / n_iter
    it_sk1 = (t1["sklearn", n_iter] - t1["sklearn", 0]) / n_iter
    rows.append(dict(problem="gmm", what=f"{covariance_type}: one EM iteration, 1 thread each",
                     fastfactor_s=it_ff1, sklearn_s=it_sk1, speedup=it_sk1 / it_ff1,
                     note="CPU seconds of the process"))
    return rows


def memory(X, covariance_type, n_iter, K):
    """Peak traced memory of one fit (tracemalloc sees numpy's allocations)."""
    params = _params(covariance_type, n_iter, K)
    mb_sk = _peak_mb(lambda: SkGMM(**params).fit(X))
    mb_ff = _peak_mb(lambda: GaussianMixture(**params).fit(X))
    return dict(problem="gmm", what=f"{covariance_type}: peak memory of a fit (MB)",
                fastfactor_s=mb_ff, sklearn_s=mb_sk, speedup=mb_sk / mb_ff,
                note=f"MB, not seconds; X itself is {X.nbytes / 1e6:.1f} MB")


def thread_scaling(X, covariance_type, n_iter, K, repeat):
    """The same fit with 2 threads against 1 thread."""
    times = {}
    for _ in range(repeat):
        for nt in (1, 2):
            params = dict(_params(covariance_type, n_iter, K), n_threads=nt)
            seconds, _ = _fit_time(GaussianMixture, X, 1, **params)
            times[nt] = min(times.get(nt, np.inf), seconds)
    return dict(problem="gmm", what=f"{covariance_type}: fit, 2 threads vs 1",
                fastfactor_s=times[2], reference_s=times[1], speedup=times[1] / times[2],
                note="reference = fastfactor with 1 thread")


def kernel_thread_scaling(X, covariance_type, K, repeat):
    """One fused EM pass (the kernel alone) with 2 threads against 1 thread."""
    from .. import kernels

    gm = GaussianMixture(**_params(covariance_type, 2, K)).fit(X)
    args = (X, gm.weights_, gm.means_, gm.precisions_cholesky_, covariance_type)
    center = X.mean(axis=0)
    times = {}
    for _ in range(repeat):
        for nt in (1, 2):
            start = time.perf_counter()
            kernels.gmm_em_step(*args, center=center, n_threads=nt)
            times[nt] = min(times.get(nt, np.inf), time.perf_counter() - start)
    return dict(problem="gmm", what=f"{covariance_type}: EM pass kernel, 2 threads vs 1",
                fastfactor_s=times[2], reference_s=times[1], speedup=times[1] / times[2],
                note="reference = the same kernel with 1 thread")


def predict_proba_rows(X, n_rows, K, repeat):
    """predict_proba on many rows: time, and peak memory beyond the output."""
    gm = GaussianMixture(**_params("diag", 5, K)).fit(X)
    sk = SkGMM(**_params("diag", 5, K)).fit(X)
    reps = -(-n_rows // X.shape[0])
    big = np.tile(X, (reps, 1))[:n_rows]
    out_mb = n_rows * K * 8 / 1e6
    t_ff = t_sk = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        gm.predict_proba(big)
        t_ff = min(t_ff, time.perf_counter() - start)
        start = time.perf_counter()
        sk.predict_proba(big)
        t_sk = min(t_sk, time.perf_counter() - start)
    extra_ff = _peak_mb(lambda: gm.predict_proba(big)) - out_mb
    extra_sk = _peak_mb(lambda: sk.predict_proba(big)) - out_mb
    return dict(problem=f"gmm, {n_rows} rows", what="diag: predict_proba",
                fastfactor_s=t_ff, sklearn_s=t_sk, speedup=t_sk / t_ff,
                note=f"memory beyond the {out_mb:.0f} MB output: {extra_ff:.1f} MB vs "
                     f"{extra_sk:.0f} MB")


def run(quick=False):
    """All mixture comparisons; a smaller problem with ``quick``."""
    if SkGMM is None:
        raise RuntimeError("the gmm benchmark needs scikit-learn (pip install scikit-learn)")
    warnings.simplefilter("ignore", ConvergenceWarning)
    X = datasets.benchmark_problem("gmm", quick=quick)
    K, n_iter = 16, (5 if quick else 20)
    repeat = 1 if quick else 3
    rows = []

    def add(new_rows):
        # the machine's load when a comparison ran: timings on a busy machine
        # are slower for both libraries, and the ratios noisier
        load = os.getloadavg()[0]
        for r in (new_rows if isinstance(new_rows, list) else [new_rows]):
            r["note"] = f"{r['note']}; load {load:.1f}"
            rows.append(r)

    for cov in COVARIANCE_TYPES:
        add(per_iteration(X, cov, n_iter, K, repeat))
    for cov in COVARIANCE_TYPES:
        add(memory(X, cov, n_iter, K))
    for cov in COVARIANCE_TYPES:
        add(thread_scaling(X, cov, n_iter, K, repeat))
    for cov in COVARIANCE_TYPES:
        add(kernel_thread_scaling(X, cov, K, 3 if quick else 15))
    add(predict_proba_rows(X, 100_000 if quick else 1_000_000, K, repeat))
    return rows


