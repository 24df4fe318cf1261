"""MiniBatchNMF and masked NMF side by side with their baselines.

* MiniBatchNMF vs scikit-learn's MiniBatchNMF on the DESIGN ``nmf-dense``
  problem, from the same init: (a) same iterates (``max_inner_iter=1``),
  same number of passes; (b) time for the default (accelerated) fastfactor
  to reach the loss scikit-learn has after its passes.
* Masked NMF on a ratings matrix with 10% observed entries against a
  straightforward dense numpy masked implementation (per iteration).

``run(quick)`` returns one dict per comparison (see :mod:`fastfactor.bench`).
"""
import time
import warnings

import numpy as np

import fastfactor as ff
from fastfactor import datasets
from fastfactor.nmf import initialize_nmf

try:
    from sklearn.decomposition import MiniBatchNMF as SkMiniBatchNMF
    from sklearn.exceptions import ConvergenceWarning
except ImportError:  # the MiniBatchNMF comparison needs scikit-learn
    SkMiniBatchNMF = None
    ConvergenceWarning = Warning


def _fit(cls, X, W0, H0, **params):
    model = cls(init="custom", tol=0, max_no_improvement=None, **params)
    start = time.perf_counter()
    model.fit(X, W=W0.copy(), H=H0.copy())
    return model, time.perf_counter() - start


def minibatch_rows(X, k=32, passes=10, batch_size=1024):
    """Same-iterates and time-to-loss comparisons of MiniBatchNMF."""
    norm = np.linalg.norm(X)
    W0, H0 = initialize_nmf(X, k, init="nndsvda")
    common = dict(n_components=k, batch_size=batch_size)
    sk, t_sk = _fit(SkMiniBatchNMF, X, W0, H0, max_iter=passes, **common)
    same, t_same = _fit(ff.MiniBatchNMF, X, W0, H0, max_iter=passes, max_inner_iter=1,
                        **common)
    rows = [dict(problem="nmf-dense", what=f"MiniBatchNMF, same iterates, {passes} passes",
                 fastfactor_s=t_same, sklearn_s=t_sk, speedup=t_sk / t_same,
                 note=f"rel. error {same.reconstruction_err_ / norm:.5f} vs "
                      f"{sk.reconstruction_err_ / norm:.5f}")]
    target = sk.reconstruction_err_ * (1 + 1e-9)
    for needed in range(1, passes + 1):  # fewest passes of the default reaching the loss
        ours, t_ours = _fit(ff.MiniBatchNMF, X, W0, H0, max_iter=needed, **common)
        if ours.reconstruction_err_ <= target:
            break
    rows.append(dict(problem="nmf-dense",
                     what=f"MiniBatchNMF default: time to scikit-learn's loss after {passes} "
                          "passes",
                     fastfactor_s=t_ours, sklearn_s=t_sk, speedup=t_sk / t_ours,
                     note=f"{needed} passes vs {passes}; rel. error "
                          f"{ours.reconstruction_err_ / norm:.5f} vs "
                          f"{sk.reconstruction_err_ / norm:.5f}"))
    return rows


def _numpy_masked_mu(Xz, M, W, H, n_iter):
    """Textbook dense masked multiplicative updates (Frobenius)."""
    for _ in range(n_iter):
        W *= (Xz @ H.T) / np.maximum((M * (W @ H)) @ H.T, 1e-12)
        H *= (W.T @ Xz) / np.maximum(W.T @ (M * (W @ H)), 1e-12)
    return W, H


def masked_rows(quick=False, k=16, n_iter=20):
    """Masked NMF per iteration against dense numpy masked updates."""
    rng = np.random.default_rng(0)
    m, n = (1000, 500) if quick else (6000, 3000)
    X = rng.random((m, k)) @ rng.random((k, n))
    M = rng.random((m, n)) < 0.1
    M[np.arange(m), rng.integers(0, n, m)] = True
    M[rng.integers(0, m, n), np.arange(n)] = True
    Xn = np.where(M, X, np.nan)
    W0, H0 = rng.random((m, k)), rng.random((k, n))
    start = time.perf_counter()
    _numpy_masked_mu(np.where(M, X, 0.0), M.astype(float), W0.copy(), H0.copy(), n_iter)
    t_ref = time.perf_counter() - start
    rows = []
    # both thread counts: on a machine whose cores are shared, every OpenMP
    # parallel region can wait a scheduler time slice for its second thread
    for solver, n_threads in [("mu", 1), ("mu", None), ("cd", 1), ("cd", None)]:
        extra = {"max_inner_iter": 1} if solver == "cd" else {}
        model = ff.NMF(k, init="custom", solver=solver, max_iter=n_iter, tol=0,
                       n_threads=n_threads, **extra)
        start = time.perf_counter()
        model.fit(Xn, W=W0.copy(), H=H0.copy())
        t_ff = time.perf_counter() - start
        rows.append(dict(problem=f"masked {m}x{n}, 10% observed, k={k}",
                         what=f"masked NMF {solver}, {n_iter} iterations, "
                              f"n_threads={n_threads}",
                         fastfactor_s=t_ff, reference_s=t_ref, speedup=t_ref / t_ff,
                         note="reference = dense numpy masked MU (same iterations); "
                              f"observed-entry error {model.reconstruction_err_:.4g}"))
    return rows


def run(quick=False):
    """All comparisons; smaller problems with ``quick``."""
    warnings.simplefilter("ignore", ConvergenceWarning)
    rows = []
    if SkMiniBatchNMF is not None:
        X = datasets.benchmark_problem("nmf-dense", quick=quick)
        rows += minibatch_rows(X, passes=4 if quick else 10,
                               batch_size=256 if quick else 1024)
    rows += masked_rows(quick)
    return rows
