"""``fastfactor demo``: each model family on built-in data, against plain numpy.

Prints, for every problem, the quality reached and the wall time of
fastfactor and of a straightforward numpy implementation doing the same
work, measured side by side in this run.
"""
import time
import warnings

import numpy as np

from . import datasets
from ._numpy_baselines import nmf_hals, nmf_mu_kl
from ._nmf_init import initialize_nmf
from .nmf import NMF, ConvergenceWarning, beta_divergence
from ._nmf_data import NMFData


def _timed(func, *args, **kwargs):
    start = time.perf_counter()
    out = func(*args, **kwargs)
    return out, time.perf_counter() - start


def _fit_to_target(X, k, W0, H0, target, max_iter=500):
    """Iterations fastfactor's cd needs to reach ``target`` loss, then a timed fit of that many."""
    probe = NMF(k, init="custom", tol=0, max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(X, W=W0.copy(), H=H0.copy())
        reached = np.flatnonzero(np.asarray(probe.loss_history_) <= target)
        n_iter = int(reached[0]) + 1 if reached.size else max_iter
        model = NMF(k, init="custom", tol=0, max_iter=n_iter)
        _, seconds = _timed(model.fit, X, W=W0.copy(), H=H0.copy())
    return model, n_iter, seconds


def demo_nmf_parts(out, quick=False):
    """NMF of a parts-based image set: do we find the parts, and how fast."""
    n = 400 if quick else 2000
    X, parts = datasets.make_parts_images(n_samples=n, size=24, n_parts=12)
    k, n_ref = 12, 50 if quick else 200
    W0, H0 = initialize_nmf(X, k, init="nndsvda")
    (_, H_np, losses_np), t_np = _timed(nmf_hals, X, W0, H0, n_ref)
    model, n_iter, t_ff = _fit_to_target(X, k, W0, H0, losses_np[-1])
    # how well each true part is matched by a learned component (cosine)
    comp = model.components_ / np.linalg.norm(model.components_, axis=1, keepdims=True)
    truth = parts / np.linalg.norm(parts, axis=1, keepdims=True)
    recovery = float(np.mean(np.max(truth @ comp.T, axis=1)))
    rel = np.sqrt(2 * losses_np[-1]) / np.linalg.norm(X)
    out(f"NMF parts images {n}x576, k=12 (Frobenius, HALS)")
    out(f"  numpy HALS     {n_ref:4d} iterations  {t_np:7.2f} s   rel. error {rel:.4f}")
    out(f"  fastfactor cd  {n_iter:4d} iterations  {t_ff:7.2f} s   rel. error "
        f"{model.reconstruction_err_ / np.linalg.norm(X):.4f}   parts recovered "
        f"(mean cosine) {recovery:.3f}")
    out(f"  -> same loss {t_np / t_ff:.1f}x sooner")


def demo_nmf_kl(out, quick=False):
    """Kullback-Leibler NMF by multiplicative updates, fixed iteration count."""
    m, n = (300, 200) if quick else (1500, 800)
    X = datasets.make_low_rank_nonneg(m, n, 16)
    k, n_iter = 16, 5 if quick else 30
    W0, H0 = initialize_nmf(X, k, init="nndsvda")
    (W_np, H_np), t_np = _timed(nmf_mu_kl, X, W0, H0, n_iter)
    model = NMF(k, init="custom", solver="mu", beta_loss="kullback-leibler", tol=0,
                max_iter=n_iter)
    W_ff, t_ff = _timed(model.fit_transform, X, W=W0.copy(), H=H0.copy())
    data = NMFData(X, 1)
    kl_np = beta_divergence(data, W_np, np.ascontiguousarray(H_np.T), 1.0)
    kl_ff = beta_divergence(data, W_ff, np.ascontiguousarray(model.components_.T), 1.0)
    out(f"NMF Kullback-Leibler {m}x{n}, k=16, {n_iter} multiplicative updates")
    out(f"  numpy          {t_np:7.2f} s   divergence {kl_np:.6e}")
    out(f"  fastfactor mu  {t_ff:7.2f} s   divergence {kl_ff:.6e}")
    out(f"  -> {t_np / t_ff:.1f}x faster per iteration")


DEMOS = [demo_nmf_parts, demo_nmf_kl]


def run(out=print, quick=False):
    """Run every demo, printing through ``out`` (``quick``: small problems)."""
    start = time.perf_counter()
    for demo in DEMOS:
        demo(out, quick=quick)
        out("")
    out(f"demo finished in {time.perf_counter() - start:.1f} s")
