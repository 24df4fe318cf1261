"""Built-in data: the DESIGN benchmark problems and a small parts-based image set.

Everything is generated from a seed, so every run (tests, demo, benchmarks)
sees the same data without downloading anything.
"""
import numpy as np
import scipy.sparse as sp

__all__ = ["make_low_rank_nonneg", "make_parts_images", "make_gaussian_blobs",
           "benchmark_problem"]


def make_low_rank_nonneg(n_samples=4000, n_features=2000, rank=32, noise=0.1, seed=0,
                         dtype=np.float64):
    """Non-negative ``W0 @ H0 + noise * U`` with uniform W0, H0, U (the ``nmf-dense`` recipe).

    Parameters
    ----------
    n_samples, n_features, rank : int
        Shape of X and of the planted factors.
    noise : float
        Scale of the uniform noise added.
    seed : int
        Seed of ``numpy.random.default_rng``.
    dtype : float32 or float64

    Returns
    -------
    ndarray of shape (n_samples, n_features)
    """
    rng = np.random.default_rng(seed)
    X = rng.random((n_samples, rank)) @ rng.random((rank, n_features))
    X += noise * rng.random((n_samples, n_features))
    return X.astype(dtype, copy=False)


def make_gaussian_blobs(n_per_blob=6250, n_features=32, n_blobs=16, spread=5.0, seed=0,
                        dtype=np.float64):
    """Well separated Gaussian blobs (the ``gmm`` recipe).

    Blob centers are drawn from N(0, spread**2), then ``n_per_blob`` points
    from N(center, 1) for each, blob after blob.

    Returns
    -------
    ndarray of shape (n_blobs * n_per_blob, n_features)
    """
    rng = np.random.default_rng(seed)
    C = rng.normal(0, spread, size=(n_blobs, n_features))
    X = np.concatenate([rng.normal(c, 1.0, size=(n_per_blob, n_features)) for c in C])
    return X.astype(dtype, copy=False)


def make_parts_images(n_samples=1000, size=24, n_parts=12, seed=0):
    """Images made by adding a few of a fixed set of non-negative parts.

    Each part is a soft oriented bar at a random place; each image switches
    on a random subset of the parts with random intensities and adds a
    little noise. NMF should recover the parts.

    Returns
    -------
    X : ndarray of shape (n_samples, size * size)
    parts : ndarray of shape (n_parts, size * size)
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1.0)
    parts = []
    for _ in range(n_parts):
        cx, cy = rng.uniform(0.2, 0.8, size=2)
        angle = rng.uniform(0, np.pi)
        along = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        across = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
        part = np.exp(-(along / 0.25) ** 2 - (across / 0.04) ** 2)
        parts.append((part / part.max()).ravel())
    parts = np.array(parts)
    active = rng.random((n_samples, n_parts)) < 0.3
    weights = active * rng.uniform(0.5, 1.5, size=(n_samples, n_parts))
    X = weights @ parts + 0.02 * rng.random((n_samples, size * size))
    return X, parts


def benchmark_problem(name, quick=False):
    """Data of a DESIGN benchmark problem (``quick``: a smaller version).

    Parameters
    ----------
    name : {'nmf-dense', 'nmf-kl', 'nmf-sparse', 'gmm'}
    quick : bool

    Returns
    -------
    ndarray or scipy.sparse.csr_matrix
    """
    if name in ("nmf-dense", "nmf-kl"):
        if quick:
            return make_low_rank_nonneg(800, 400, 32)
        return make_low_rank_nonneg()
    if name == "nmf-sparse":
        shape = (4000, 1000) if quick else (20000, 5000)
        return sp.random(*shape, density=0.01, format="csr", random_state=0)
    if name == "gmm":
        return make_gaussian_blobs(625 if quick else 6250)
    raise ValueError(f"unknown benchmark problem {name!r}; expected one of "
                     "'nmf-dense', 'nmf-kl', 'nmf-sparse', 'gmm'")
