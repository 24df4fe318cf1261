"""Colour image compression: deep (multi-layer) NMF against single-layer NMF.

A procedural colour image (gradients, discs, stripes, a checkerboard and a
little noise, all generated with numpy) is cut into 8x8 RGB patches, one
patch per row of X (192 non-negative features). A factorization is stored
as its factors, so its storage is the number of entries of all factors:

* single-layer NMF, rank k:  n_patches * k + k * 192
* deep NMF [k1, ..., kL]:   n_patches * kL + kL * k(L-1) + ... + k1 * 192

For each deep configuration the single-layer rank is the largest whose
storage does not exceed the deep one's; the reconstructions are compared in
PSNR. Fine-tuning is also compared with pretraining alone.

Run: ``python examples/deep_nmf_image_compression.py [--quick]``
"""
import sys
import time
import warnings

import numpy as np

import fastfactor as ff


def make_image(size=256, seed=0):
    """A procedural RGB image in [0, 1], shape (size, size, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / (size - 1.0)
    img = np.stack([0.2 + 0.6 * x, 0.3 + 0.5 * y, 0.6 - 0.4 * x * y], axis=-1)
    for _ in range(6):  # soft coloured discs
        cx, cy, r = rng.uniform(0.15, 0.85), rng.uniform(0.15, 0.85), rng.uniform(0.05, 0.2)
        colour = rng.uniform(0, 1, 3)
        weight = 1.0 / (1.0 + np.exp(((x - cx) ** 2 + (y - cy) ** 2 - r * r) / (0.1 * r * r)))
        img = img * (1 - weight[..., None]) + colour * weight[..., None]
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * 12 * (x + 0.3 * y))
    band = (y > 0.7) & (y < 0.85)
    img[band] = 0.5 * img[band] + 0.5 * stripes[band][:, None] * np.array([0.9, 0.8, 0.2])
    checker = ((np.floor(x * 16) + np.floor(y * 16)) % 2)[..., None]
    corner = (x < 0.25) & (y > 0.75)
    img[corner] = (0.2 + 0.6 * checker[corner]) * np.array([0.3, 0.5, 0.9])
    img += 0.02 * rng.standard_normal(img.shape)
    return np.clip(img, 0, 1)


def to_patches(img, p=8):
    """(n_patches, p*p*3) rows of non-overlapping p x p RGB patches."""
    h, w, c = img.shape
    return img.reshape(h // p, p, w // p, p, c).swapaxes(1, 2).reshape(-1, p * p * c)


def from_patches(X, shape, p=8):
    h, w, c = shape
    return X.reshape(h // p, w // p, p, p, c).swapaxes(1, 2).reshape(h, w, c)


def psnr(a, b):
    mse = float(np.mean((np.clip(a, 0, 1) - b) ** 2))
    return 10 * np.log10(1.0 / mse)


def storage_deep(n_rows, n_features, sizes):
    dims = [n_features] + list(sizes)
    return n_rows * sizes[-1] + sum(dims[i] * dims[i + 1] for i in range(len(sizes)))


def main(quick=False):
    warnings.simplefilter("ignore")
    img = make_image(128 if quick else 256)
    X = to_patches(img)
    m, n = X.shape
    print(f"image {img.shape}, {m} patches x {n} features; raw storage {X.size} numbers")
    configs = [[24, 8], [48, 16], [32, 16, 8]] if not quick else [[24, 8], [32, 16, 8]]
    print(f"{'model':34s} {'storage':>8s} {'ratio':>6s} {'PSNR dB':>8s} {'time s':>7s}")
    for sizes in configs:
        budget = storage_deep(m, n, sizes)
        start = time.perf_counter()
        deep = ff.DeepNMF(sizes, random_state=0, max_iter=60 if quick else 200)
        W = deep.fit_transform(X)
        t_deep = time.perf_counter() - start
        rec_deep = from_patches(deep.inverse_transform(W), img.shape)
        # pretraining alone: same model, no fine-tuning
        pre = ff.DeepNMF(sizes, random_state=0, max_iter=0)
        rec_pre = from_patches(pre.inverse_transform(pre.fit_transform(X)), img.shape)
        k = budget // (m + n)
        start = time.perf_counter()
        single = ff.NMF(k, random_state=0, max_iter=400)
        Ws = single.fit_transform(X)
        t_single = time.perf_counter() - start
        rec_single = from_patches(single.inverse_transform(Ws), img.shape)
        for label, storage, rec, seconds in [
            (f"deep {sizes} pretrained only", budget, rec_pre, float("nan")),
            (f"deep {sizes} fine-tuned", budget, rec_deep, t_deep),
            (f"single-layer k={k}", k * (m + n), rec_single, t_single),
        ]:
            print(f"{label:34s} {storage:8d} {X.size / storage:6.1f} {psnr(rec, img):8.2f} "
                  f"{seconds:7.2f}")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
