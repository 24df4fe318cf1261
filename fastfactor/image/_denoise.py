"""Denoising: a truncated SVD of the whole image, or a low-rank model of its patches."""
import numpy as np
import scipy.linalg

from .._utils.validation import check_float, check_int, check_option
from ..svd import randomized_svd
from ._arrays import (check_color, check_image, clip_like, in_unit_range, layout_matrices,
                      merge_blocks)
from ._compress import compress_svd
from ._models import omp_codes
from ._patches import check_patch_size, extract_patches, reconstruct_from_patches


def optimal_svd_rank(singular_values, shape, noise_sigma=None):
    """Rank kept by the optimal hard threshold of Gavish & Donoho (2014).

    With a known noise level the threshold is ``lambda(beta) sqrt(n) sigma``;
    without, ``omega(beta) median(s)`` (their approximation), where
    ``beta = m/n <= 1`` is the aspect ratio. Returns at least 1.
    """
    s = np.asarray(singular_values, dtype=np.float64)
    m, n = sorted(shape)
    beta = m / n
    if noise_sigma is None:
        omega = 0.56 * beta ** 3 - 0.95 * beta ** 2 + 1.82 * beta + 1.43
        tau = omega * np.median(s)
    else:
        noise_sigma = check_float(noise_sigma, "noise_sigma", min_value=0)
        lam = np.sqrt(2 * (beta + 1)
                      + 8 * beta / ((beta + 1) + np.sqrt(beta ** 2 + 14 * beta + 1)))
        tau = lam * np.sqrt(n) * noise_sigma
    return max(1, int(np.sum(s > tau)))


def denoise_svd(image, n_components=None, *, noise_sigma=None, color="channels",
                energy="squared", random_state=0):
    """Denoise an image by truncating its SVD.

    Parameters
    ----------
    image : ndarray (H, W) or (H, W, 3)
    n_components : None, int or float
        None picks the rank by the optimal hard threshold
        (:func:`optimal_svd_rank`, needs every singular value: an exact SVD
        of the image); an int or an energy fraction as in
        :func:`compress_svd`.
    noise_sigma : float, optional
        Standard deviation of the noise, if known (only for
        ``n_components=None``).
    color, energy, random_state : as in :func:`compress_svd`

    Returns
    -------
    denoised : ndarray, same shape (clipped to [0, 1] if the image was in [0, 1])
    ranks : tuple of int
        Rank kept per block.
    """
    image = check_image(image)
    if n_components is not None:
        c = compress_svd(image, n_components, energy=energy, color=color,
                         random_state=random_state)
        return c.reconstruct(), c.ranks
    color = check_color(image, color)
    blocks, ranks = [], []
    for M in layout_matrices(image, color):
        U, S, Vt = scipy.linalg.svd(M, full_matrices=False)
        k = optimal_svd_rank(S, M.shape, noise_sigma)
        blocks.append((U[:, :k] * S[:k]) @ Vt[:k])
        ranks.append(k)
    return clip_like(merge_blocks(blocks, image.shape), in_unit_range(image)), tuple(ranks)


def _svd_patch_model(patches, n_components, random_state):
    """Patch PCA: keep the leading principal components of the centred patches."""
    mean = patches.mean(axis=0)
    centred = patches - mean
    U, S, Vt = randomized_svd(centred, n_components, random_state=random_state)
    return (U * S) @ Vt + mean


def _dictionary_patch_model(patches, n_components, random_state):
    """Patch dictionary learning: atoms learned on the noisy patches, OMP codes.

    Each patch's mean is taken out first (it is kept as is); the rest is
    coded with a few atoms, which keeps structure and drops most noise.
    ``n_components`` is the number of atoms (a float means 64).
    """
    n_atoms = n_components if isinstance(n_components, (int, np.integer)) else 64
    n_atoms = min(int(n_atoms), patches.shape[0])
    mean = patches.mean(axis=1, keepdims=True)
    centred = patches - mean
    codes, atoms = omp_codes(centred, n_atoms, n_nonzero_coefs=max(1, min(4, n_atoms)),
                             max_iter=2, random_state=random_state)
    return codes @ atoms + mean


#: patch models for :func:`denoise_patches`: name -> f(patches, n_components, random_state)
PATCH_MODELS = {"svd": _svd_patch_model, "dictionary": _dictionary_patch_model}


def denoise_patches(image, *, patch_size=8, step=2, n_components=0.9, model="svd",
                    random_state=0):
    """Denoise with a low-rank model of the image's overlapping patches.

    Every ``patch_size`` patch (corners ``step`` apart) becomes a row of a
    matrix; the model cleans that matrix (``'svd'``: keep the leading
    principal components of the centred patches, an int rank or an energy
    fraction); the cleaned patches are put back and overlaps averaged.

    Returns
    -------
    ndarray, same shape as ``image`` (clipped to [0, 1] if the image was in [0, 1])
    """
    image = check_image(image)
    check_option(model, "model", tuple(PATCH_MODELS))
    ph, pw = check_patch_size(patch_size, image.shape)
    patches = extract_patches(image, (ph, pw), step)
    if not isinstance(n_components, float):
        n_components = check_int(n_components, "n_components", min_value=1,
                                 max_value=min(patches.shape))
    cleaned = PATCH_MODELS[model](patches, n_components, random_state)
    return clip_like(reconstruct_from_patches(cleaned, image.shape, (ph, pw), step),
                     in_unit_range(image))
