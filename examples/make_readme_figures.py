"""Make the pictures the README shows, from the library's own built-in data.

    pip install ".[image,bench]"
    python examples/make_readme_figures.py            # writes docs/images/*.png

Every picture is computed here, in this run: nothing is downloaded.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

import fastfactor as ff
from fastfactor import image

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def compression_strip(img, ranks, path):
    """Original next to SVD reconstructions at several ranks and a sparse-dictionary one."""
    plt = _plt()
    runs = [(f"SVD rank {rank}", lambda r=rank: image.compress_svd(img, r)) for rank in ranks]
    runs.append(("dictionary, 64 atoms\n4 per 8x8 patch",
                 lambda: image.compress_dictionary(img, 64, n_nonzero_coefs=4)))
    fig, axes = plt.subplots(1, len(runs) + 1, figsize=(2.6 * (len(runs) + 1), 3.1))
    axes[0].imshow(img)
    axes[0].set_title("original")
    for ax, (label, compress) in zip(axes[1:], runs):
        comp = compress()
        rec = comp.reconstruct()
        ax.imshow(rec)
        ax.set_title(f"{label}\nPSNR {image.psnr(img, rec):.1f} dB, "
                     f"{100 * comp.storage_ratio:.0f}% kept", fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def quality_vs_rank(img, path):
    """PSNR and SSIM of SVD and NMF compression as the rank grows."""
    plt = _plt()
    ranks = [2, 4, 8, 12, 16, 24, 32, 48]
    rows = {"SVD": [], "NMF": []}
    for rank in ranks:
        for name, compress in (("SVD", image.compress_svd), ("NMF", image.compress_nmf)):
            rec = compress(img, rank).reconstruct()
            rows[name].append((image.psnr(img, rec), image.ssim(img, rec)))
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    for name, values in rows.items():
        a.plot(ranks, [v[0] for v in values], "o-", label=name)
        b.plot(ranks, [v[1] for v in values], "o-", label=name)
    a.set_xlabel("rank per channel")
    a.set_ylabel("PSNR (dB)")
    b.set_xlabel("rank per channel")
    b.set_ylabel("SSIM")
    a.legend()
    a.grid(alpha=0.3)
    b.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _upscale(img, factor):
    return np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)


def nmf_parts_grid(path):
    """The NMF parts of a collection of small images."""
    images = image.sample_collection(n_images=400, size=16, seed=0)
    parts, _ = image.nmf_parts(images, 16)
    image.save_image(path, _upscale(image.make_grid(parts, normalize=True, n_cols=8), 6))


def generated_samples(path):
    """Training images (top) and images sampled from a Gaussian mixture fitted to them."""
    images = image.sample_collection(n_images=600, size=16, seed=0)
    X, shape = image.images_to_matrix(images)
    model = ff.GaussianMixture(12, covariance_type="full", reg_covar=1e-3,
                               random_state=0).fit(X)
    samples, _ = model.sample(16)
    generated = np.clip(image.matrix_to_images(samples, shape), 0, 1)
    both = np.concatenate([images[:16], generated])
    image.save_image(path, _upscale(image.make_grid(both, n_cols=16, pad=2), 5))


def denoising(img, path):
    """Noisy image, truncated-SVD and patch-based denoising."""
    plt = _plt()
    rng = np.random.default_rng(0)
    noisy = np.clip(img + 0.1 * rng.standard_normal(img.shape), 0, 1)
    by_svd, _ = image.denoise_svd(noisy)
    by_patches = image.denoise_patches(noisy, patch_size=8)
    by_dictionary = image.denoise_patches(noisy, patch_size=8, model="dictionary",
                                          n_components=64)
    pictures = [("clean", img), ("noisy", noisy), ("truncated SVD", by_svd),
                ("patch PCA", by_patches), ("patch dictionary", by_dictionary)]
    fig, axes = plt.subplots(1, len(pictures), figsize=(2.6 * len(pictures), 2.9))
    for ax, (title, pic) in zip(axes, pictures):
        ax.imshow(pic)
        ax.set_title(title if pic is img else f"{title}\nPSNR {image.psnr(img, pic):.1f} dB",
                     fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    img = image.sample_image("landscape", size=(192, 192), color=True)
    steps = [("compression.png", lambda p: compression_strip(img, [2, 8, 24, 48], p)),
             ("quality_vs_rank.png", lambda p: quality_vs_rank(img, p)),
             ("nmf_parts.png", nmf_parts_grid),
             ("generated.png", generated_samples),
             ("denoising.png", lambda p: denoising(image.sample_image("shapes", size=(160, 160)),
                                                   p))]
    for name, make in steps:
        start = time.perf_counter()
        make(out / name)
        print(f"{out / name}  ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
