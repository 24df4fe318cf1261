"""NMF side by side with scikit-learn and numpy on the DESIGN benchmark problems.

``run(quick)`` returns one dict per comparison (see :mod:`fastfactor.bench`).
The scikit-learn comparisons need scikit-learn installed; the rest do not.
"""
import copy
import time
import warnings

import numpy as np
import scipy.sparse as sp

import fastfactor as ff
from fastfactor import datasets, kernels, selftest
from fastfactor.nmf import initialize_nmf
from fastfactor._utils import threads
from fastfactor.bench.numpy_baselines import nmf_hals, nmf_mu_kl

try:
    from sklearn.decomposition import NMF as SkNMF
    from sklearn.exceptions import ConvergenceWarning
except ImportError:  # the comparison needs scikit-learn
    SkNMF = None
    ConvergenceWarning = Warning


def _time(func, *args, **kwargs):
    start = time.perf_counter()
    out = func(*args, **kwargs)
    return out, time.perf_counter() - start


def _fit(cls, X, W0, H0, **params):
    model = cls(init="custom", tol=0, **params)
    _, seconds = _time(model.fit, X, W=W0.copy(), H=H0.copy())
    return model, seconds


def _side_by_side(X, W0, H0, fits, repeat=2):
    """Run each (class, params) fit ``repeat`` times, interleaved; best time of each.

    Interleaving puts every contender through the same stretches of a shared
    machine's noise, and noise only ever adds time, so the minimum is kept.
    Returns a list of (model, seconds) in the order of ``fits``.
    """
    best = [(None, np.inf)] * len(fits)
    for _ in range(repeat):
        for i, (cls, params) in enumerate(fits):
            model, seconds = _fit(cls, X, W0, H0, **params)
            if seconds < best[i][1]:
                best[i] = (model, seconds)
    return best


def _rel(model, X):
    norm = np.sqrt(X.multiply(X).sum()) if hasattr(X, "multiply") else np.linalg.norm(X)
    return model.reconstruction_err_ / norm


def dense_time_to_loss(X, k, n_iter):
    """Time for fastfactor's cd to reach the loss scikit-learn's cd has after n_iter."""
    W0, H0 = initialize_nmf(X, k, init="nndsvda")
    sk, t_sk = _fit(SkNMF, X, W0, H0, n_components=k, max_iter=n_iter)
    target = 0.5 * sk.reconstruction_err_ ** 2
    probe, _ = _fit(ff.NMF, X, W0, H0, n_components=k, max_iter=n_iter)
    reached = np.flatnonzero(np.asarray(probe.loss_history_) <= target * (1 + 1e-12))
    needed = int(reached[0]) + 1 if reached.size else n_iter
    ours, t_ff = _fit(ff.NMF, X, W0, H0, n_components=k, max_iter=needed)
    return dict(problem="nmf-dense", what=f"cd: time to scikit-learn's loss after {n_iter} it.",
                fastfactor_s=t_ff, sklearn_s=t_sk, speedup=t_sk / t_ff,
                note=f"{needed} it. vs {n_iter}; rel. error {_rel(ours, X):.5f} vs "
                     f"{_rel(sk, X):.5f}")


def dense_iteration_vs_blas(X, k, n_iter):
    """One cd iteration against the two BLAS products it cannot avoid.

    The products are timed as numpy runs them (BLAS with all its threads).
    """
    rng = np.random.default_rng(0)
    W = rng.random((X.shape[0], k))
    Ht = rng.random((X.shape[1], k))
    X @ Ht  # warm up
    t_blas = np.inf
    for _ in range(2):
        start = time.perf_counter()
        for _ in range(n_iter):
            X @ Ht
            X.T @ W
        t_blas = min(t_blas, (time.perf_counter() - start) / n_iter)
    W0, H0 = initialize_nmf(X, k, init="nndsvda")
    rows = []
    for inner, label in [(1, "plain HALS (1 sweep)"), ("auto", "accelerated HALS")]:
        # the marginal cost of an iteration: fits of n and 2n iterations, so
        # what a fit does once (input checks, the exact final error) cancels
        # (best of two of each: a shared VM's noise only ever adds time)
        short, long = (min(_fit(ff.NMF, X, W0, H0, n_components=k, max_iter=n,
                                max_inner_iter=inner)[1] for _ in range(2))
                       for n in (n_iter, 2 * n_iter))
        per_iter = (long - short) / n_iter
        rows.append(dict(problem="nmf-dense", what=f"cd iteration, {label}, vs X@H.T + X.T@W",
                         fastfactor_s=per_iter, reference_s=t_blas, speedup=t_blas / per_iter,
                         note=f"iteration / products = {per_iter / t_blas:.2f}"))
    return rows


def per_iteration(problem, X, k, n_iter, solver, beta_loss="frobenius"):
    """Same solver, same init, same number of iterations: time and loss."""
    W0, H0 = initialize_nmf(X, k, init="nndsvda")
    params = dict(n_components=k, max_iter=n_iter, solver=solver, beta_loss=beta_loss)
    extra = {"max_inner_iter": 1} if solver == "cd" else {}
    (sk, t_sk), (ours, t_ff) = _side_by_side(X, W0, H0, [(SkNMF, params),
                                                         (ff.NMF, {**params, **extra})])
    return dict(problem=problem, what=f"{solver} ({beta_loss}), {n_iter} iterations",
                fastfactor_s=t_ff, sklearn_s=t_sk, speedup=t_sk / t_ff,
                note=f"error {ours.reconstruction_err_:.6g} vs {sk.reconstruction_err_:.6g}; "
                     "best of 2 interleaved fits each")


def sparse_cd_accelerated(X, k, n_iter):
    """Accelerated cd against scikit-learn's cd at the same iteration count."""
    W0, H0 = initialize_nmf(X, k, init="nndsvda")
    params = dict(n_components=k, max_iter=n_iter)
    (sk, t_sk), (ours, t_ff) = _side_by_side(X, W0, H0, [(SkNMF, params), (ff.NMF, params)])
    return dict(problem="nmf-sparse", what=f"cd accelerated (default), {n_iter} iterations",
                fastfactor_s=t_ff, sklearn_s=t_sk, speedup=t_sk / t_ff,
                note=f"error {ours.reconstruction_err_:.6g} vs {sk.reconstruction_err_:.6g}; "
                     "best of 2 interleaved fits each")


def _numpy_baselines(X, k, n_iter):
    """Plain HALS and KL multiplicative updates in vectorised numpy, same iterations."""
    W0, H0 = initialize_nmf(X, k, init="nndsvda")
    (_, _, losses), t_np = _time(nmf_hals, X, W0, H0, n_iter)
    ours, t_ff = _fit(ff.NMF, X, W0, H0, n_components=k, max_iter=n_iter, max_inner_iter=1)
    rows = [dict(problem="nmf-dense", what=f"cd (1 sweep), {n_iter} it., vs numpy HALS",
                 fastfactor_s=t_ff, reference_s=t_np, speedup=t_np / t_ff,
                 note=f"loss {0.5 * ours.reconstruction_err_ ** 2:.6g} vs {losses[-1]:.6g}")]
    n_kl = max(2, n_iter // 5)
    _, t_np = _time(nmf_mu_kl, X, W0, H0, n_kl)
    _, t_ff = _fit(ff.NMF, X, W0, H0, n_components=k, max_iter=n_kl, solver="mu",
                   beta_loss="kullback-leibler")
    rows.append(dict(problem="nmf-kl", what=f"mu (KL), {n_kl} it., vs numpy",
                     fastfactor_s=t_ff, reference_s=t_np, speedup=t_np / t_ff, note=""))
    return rows


def thread_scaling(quick=False, repeat=7):
    """Each compiled NMF kernel with 1 and with 2 threads, on a benchmark-sized input.

    The small-call threshold (:data:`fastfactor._utils.threads.MIN_WORK_PER_THREAD`)
    is switched off here, so every kernel really runs on the threads asked for.
    """
    m, n, k = (800, 400, 16) if quick else (4000, 2000, 32)
    rows = []
    saved = threads.MIN_WORK_PER_THREAD
    threads.MIN_WORK_PER_THREAD = 1
    try:
        for name in sorted(selftest.all_cases()):
            if selftest.family_of(name) != "nmf":
                continue
            args, kwargs = selftest.all_cases()[name](np.random.default_rng(0), m, n, k,
                                                      np.float64)
            times = {}
            for nt in (1, 2):
                best = np.inf
                for _ in range(repeat):
                    fresh = copy.deepcopy(args)
                    start = time.perf_counter()
                    getattr(kernels, name)(*fresh, n_threads=nt, **kwargs)
                    best = min(best, time.perf_counter() - start)
                times[nt] = best
            rows.append(dict(problem=f"kernel {m}x{n}, k={k}", what=f"{name}: 2 threads vs 1",
                             fastfactor_s=times[2], reference_s=times[1],
                             speedup=times[1] / times[2],
                             note="reference = same kernel, 1 thread"))
        if not quick:
            rows += _sparse_product_scaling(repeat)
    finally:
        threads.MIN_WORK_PER_THREAD = saved
    return rows


def _sparse_product_scaling(repeat):
    """csr_matmul with 1 and 2 threads on the two products of an nmf-sparse iteration."""
    X = datasets.benchmark_problem("nmf-sparse")
    rng = np.random.default_rng(0)
    Ht, W = rng.random((X.shape[1], 32)), rng.random((X.shape[0], 32))
    # intp indices, as the estimators hold them (no conversion inside the timing)
    X, Xt = (sp.csr_matrix((A.data, A.indices.astype(np.intp), A.indptr.astype(np.intp)),
                           shape=A.shape) for A in (X, X.T.tocsr()))
    rows = []
    for label, A, B in (("X @ Ht", X, Ht), ("X.T @ W", Xt, W)):
        times = {}
        for nt in (1, 2):
            times[nt] = min(_time(kernels.csr_matmul, A, B, n_threads=nt)[1]
                            for _ in range(repeat))
        _, t_scipy = _time(lambda: A @ B)
        rows.append(dict(problem="nmf-sparse", what=f"csr_matmul {label}: 2 threads vs 1",
                         fastfactor_s=times[2], reference_s=times[1],
                         speedup=times[1] / times[2],
                         note=f"scipy (1 thread) {t_scipy:.4f} s"))
    return rows


def run(quick=False):
    """All NMF comparisons; smaller problems and iteration counts with ``quick``."""
    warnings.simplefilter("ignore", ConvergenceWarning)
    dense = datasets.benchmark_problem("nmf-dense", quick=quick)
    sparse = datasets.benchmark_problem("nmf-sparse", quick=quick)
    it_dense, it_kl, it_sparse = (20, 5, 10) if quick else (100, 20, 50)
    rows = dense_iteration_vs_blas(dense, 32, 10 if quick else 20)
    rows += _numpy_baselines(dense, 32, it_dense)
    rows += thread_scaling(quick)
    if SkNMF is None:
        return rows
    rows.append(dense_time_to_loss(dense, 32, it_dense))
    rows.append(per_iteration("nmf-dense", dense, 32, it_dense, "mu"))
    rows.append(per_iteration("nmf-kl", dense, 32, it_kl, "mu", "kullback-leibler"))
    rows.append(per_iteration("nmf-sparse", sparse, 32, it_sparse, "mu"))
    rows.append(per_iteration("nmf-sparse", sparse, 32, it_sparse, "cd"))
    rows.append(sparse_cd_accelerated(sparse, 32, it_sparse))
    return rows
