"""``fastfactor demo``: each model family on built-in data, against plain numpy.

Prints, for every problem, the quality reached and the wall time of
fastfactor and of a straightforward numpy implementation doing the same
work, measured side by side in this run.
"""
import time
import warnings

import numpy as np

from .. import datasets
from ..bench.numpy_baselines import gmm_em_diag, lasso_fista, nmf_hals, nmf_mu_kl
from ..exceptions import ConvergenceWarning
from ..kernels import beta_divergence_dense
from ..mixture import GaussianMixture
from ..nmf import NMF
from ..nmf import initialize_nmf
from ..sparse_coding import sparse_encode
from ..svd import TruncatedSVD


def _timed(func, *args, **kwargs):
    start = time.perf_counter()
    out = func(*args, **kwargs)
    return out, time.perf_counter() - start


def _report(out, title, baseline, ours, gain="faster"):
    """A demo's lines: the title, ``(label, seconds, quality)`` of each side, the speed-up."""
    out(title)
    for label, seconds, quality in (baseline, ours):
        out(f"  {label:14s} {seconds:7.2f} s   {quality}")
    out(f"  -> {baseline[1] / ours[1]:.1f}x {gain}")


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
    kl_np = beta_divergence_dense(X, W_np @ H_np, 1.0)
    kl_ff = beta_divergence_dense(X, W_ff @ model.components_, 1.0)
    _report(out, f"NMF Kullback-Leibler {m}x{n}, k=16, {n_iter} multiplicative updates",
            ("numpy", t_np, f"divergence {kl_np:.6e}"),
            ("fastfactor mu", t_ff, f"divergence {kl_ff:.6e}"), gain="faster per iteration")


def demo_gmm(out, quick=False):
    """Gaussian mixture by EM from the same start: log-likelihood and time."""
    per_blob = 500 if quick else 3000
    X = datasets.make_gaussian_blobs(per_blob)
    K, n_iter = 16, 10
    rng = np.random.default_rng(1)
    means0 = X[rng.choice(len(X), K, replace=False)]
    var0 = np.full((K, X.shape[1]), X.var(axis=0).mean())
    w0 = np.full(K, 1.0 / K)
    (_, _, _, ll_np), t_np = _timed(gmm_em_diag, X, w0, means0, var0, n_iter)
    model = GaussianMixture(K, covariance_type="diag", max_iter=n_iter, tol=0,
                            weights_init=w0, means_init=means0, precisions_init=1.0 / var0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, t_ff = _timed(model.fit, X)
    _report(out, f"Gaussian mixture {X.shape[0]}x{X.shape[1]}, K={K}, diagonal, {n_iter} EM "
                 "iterations",
            ("numpy", t_np, f"mean log-likelihood {ll_np:.6f}"),
            ("fastfactor", t_ff, f"mean log-likelihood {model.lower_bound_:.6f}"))


def demo_sparse_coding(out, quick=False):
    """Lasso codes of signals on a dictionary: objective and time."""
    n_signals = 500 if quick else 2000
    rng = np.random.default_rng(0)
    D = rng.normal(size=(256, 128))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    codes = np.where(rng.random((n_signals, 256)) < 0.03, rng.normal(size=(n_signals, 256)), 0)
    Y = codes @ D + 0.01 * rng.normal(size=(n_signals, 128))
    alpha = 0.05

    def objective(C):
        return float(0.5 * np.sum((Y - C @ D) ** 2) + alpha * np.abs(C).sum()) / n_signals

    C_np, t_np = _timed(lasso_fista, Y, D, alpha, 300)
    # sparse_encode's lasso minimises 0.5 ||y - c D||^2 + alpha ||c||_1 per signal
    C_ff, t_ff = _timed(sparse_encode, Y, D, algorithm="lasso_cd", alpha=alpha)
    _report(out, f"Lasso sparse coding: {n_signals} signals, 256 atoms of dim 128, "
                 f"alpha={alpha}",
            *[(label, seconds, f"objective {objective(C):.6f}  non-zeros {np.mean(C != 0):.3f}")
              for label, seconds, C in (("numpy FISTA", t_np, C_np),
                                        ("fastfactor cd", t_ff, C_ff))])


def demo_svd(out, quick=False):
    """Rank for 90% of the energy: randomized and incremental vs a full numpy SVD."""
    m, n = (600, 400) if quick else (3000, 1500)
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(m, 40)) * np.linspace(10, 1, 40)) @ rng.normal(size=(40, n))
    X += 0.5 * rng.normal(size=(m, n))
    s, t_np = _timed(np.linalg.svd, X, compute_uv=False)
    energy = np.cumsum(s ** 2) / np.sum(s ** 2)
    rank_np = int(np.searchsorted(energy, 0.9) + 1)
    model = TruncatedSVD(n_components=0.9, random_state=0)
    _, t_ff = _timed(model.fit, X)
    _report(out, f"Truncated SVD {m}x{n}: smallest rank keeping 90% of the energy",
            ("numpy full SVD", t_np, f"rank {rank_np}"),
            ("fastfactor", t_ff, f"rank {model.n_components_}"))


def demo_image(out, quick=False):
    """Compress a built-in colour image with SVD and NMF: quality and storage."""
    from .. import image

    size = (96, 96) if quick else (256, 256)
    img = image.sample_image("landscape", size=size, color=True)
    out(f"Image compression, built-in {size[0]}x{size[1]} colour scene")
    for label, compress in [("SVD rank 16", lambda: image.compress_svd(img, 16)),
                            ("SVD 99.9% energy", lambda: image.compress_svd(img, 0.999)),
                            ("NMF rank 16", lambda: image.compress_nmf(img, 16))]:
        comp, seconds = _timed(compress)
        rec = comp.reconstruct()
        out(f"  {label:15s} PSNR {image.psnr(img, rec):5.1f} dB  SSIM "
            f"{image.ssim(img, rec):.3f}  storage {comp.storage_ratio:.3f}  {seconds:.2f} s")


DEMOS = [demo_nmf_parts, demo_nmf_kl, demo_gmm, demo_sparse_coding, demo_svd, demo_image]


def run(out=print, quick=False):
    """Run every demo, printing through ``out`` (``quick``: small problems)."""
    start = time.perf_counter()
    for demo in DEMOS:
        demo(out, quick=quick)
        out("")
    out(f"demo finished in {time.perf_counter() - start:.1f} s")
