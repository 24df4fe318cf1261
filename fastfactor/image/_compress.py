"""Compression: an image as products ``left @ right`` of small factors.

:func:`compress_svd` (rank or energy fraction) and :func:`compress_nmf`
return a :class:`Compressed`: a list of blocks, each a product of two
factors, that knows how to :meth:`~Compressed.reconstruct` itself and its
storage ratio; :func:`compress_dictionary` returns :class:`PatchCodes`,
sparse codes of the image's patches.
"""
from dataclasses import dataclass, field

import numpy as np

from .._utils.validation import check_int, check_option
from ..svd import randomized_svd
from ._arrays import (check_color, check_image, clip_like, in_unit_range, layout_matrices,
                      merge_blocks)
from ._models import autoencoder_codes, fit_nmf, omp_codes
from ._patches import check_patch_size, extract_patches, reconstruct_from_patches


@dataclass
class Compressed:
    """A compressed image: blocks ``left @ right`` and how to assemble them.

    Attributes
    ----------
    method : str
        'svd', 'nmf', ...
    shape : tuple
        Shape of the original image.
    blocks : list of (left, right)
        One pair per factorized matrix (one per channel for
        ``color='channels'``, a single one otherwise).
    color : str
        'gray', 'channels' or 'stacked'.
    info : dict
        Method-specific extras (e.g. the energy kept).
    """

    method: str
    shape: tuple
    blocks: list
    color: str
    info: dict = field(default_factory=dict)

    @property
    def ranks(self):
        """Rank of each block."""
        return tuple(left.shape[1] for left, _ in self.blocks)

    @property
    def n_numbers(self):
        """How many numbers are stored (the factors' entries)."""
        return int(sum(left.size + right.size for left, right in self.blocks))

    @property
    def storage_ratio(self):
        """Numbers kept over pixel values in the image (H*W*channels); < 1 is compression."""
        return self.n_numbers / float(np.prod(self.shape))

    def reconstruct(self, clip=True):
        """The image rebuilt from the factors.

        With ``clip=True`` values are clipped to [0, 1] when the original
        image was in [0, 1] (``info['in_unit_range']``); an image in another
        range (say 0..255 floats) is returned unclipped.
        """
        image = merge_blocks([left @ right for left, right in self.blocks], self.shape)
        return clip_like(image, self.info.get("in_unit_range", True)) if clip else image


def _max_rank(matrices):
    return min(min(m.shape) for m in matrices)


def _check_rank_for_image(n_components, matrices, image_shape, allow_energy=True):
    limit = _max_rank(matrices)
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer, float,
                                                                       np.floating)):
        raise TypeError("n_components must be an int rank" + (
            " or a float energy fraction in (0, 1)" if allow_energy else "")
            + f", got {n_components!r}.")
    if isinstance(n_components, (float, np.floating)):
        if not allow_energy:
            raise TypeError(f"n_components must be an int rank here, got {n_components!r}.")
        if not 0.0 < n_components < 1.0:
            raise ValueError(f"n_components as an energy fraction must be in (0, 1), got "
                             f"{n_components!r}.")
        return float(n_components)
    if not 1 <= n_components <= limit:
        raise ValueError(f"n_components must be between 1 and {limit} (the smaller side of "
                         f"the matrix factorized for an image of shape {image_shape}), got "
                         f"{n_components}.")
    return int(n_components)


def compress_svd(image, n_components, *, energy="squared", color="channels",
                 random_state=0):
    """Compress an image by truncated SVD.

    Parameters
    ----------
    image : ndarray (H, W) or (H, W, 3)
    n_components : int or float
        A rank, or an energy fraction in (0, 1): the smallest rank keeping
        that fraction (see :func:`fastfactor.randomized_svd`; with
        ``color='channels'`` each channel gets its own rank).
    energy : {'squared', 'linear'}
        Energy convention for a fraction ('linear' is the classic
        cumulative-sum-of-singular-values recipe).
    color : {'channels', 'stacked'}
        Colour images: one SVD per channel, or one SVD of the (H, 3W)
        matrix of the channels side by side (a shared left factor).
    random_state : int, RandomState, Generator or None

    Returns
    -------
    Compressed
        Blocks ``(U * S, Vt)``; ``info['energy']`` holds the squared energy
        kept per block.
    """
    image = check_image(image)
    color = check_color(image, color)
    matrices = layout_matrices(image, color)
    n_components = _check_rank_for_image(n_components, matrices, image.shape)
    blocks, kept = [], []
    for M in matrices:
        U, S, Vt = randomized_svd(M, n_components, energy=energy, random_state=random_state)
        blocks.append((U * S, Vt))
        kept.append(float(np.sum(S.astype(np.float64) ** 2) / np.sum(M * M, dtype=np.float64))
                    if np.any(M) else 1.0)
    return Compressed("svd", image.shape, blocks, color,
                      {"energy": tuple(kept), "in_unit_range": in_unit_range(image)})


def compress_nmf(image, n_components, *, color="channels", max_iter=400, tol=1e-4,
                 random_state=0):
    """Compress an image by NMF (non-negative parts): each block is W @ H with W, H >= 0.

    Parameters
    ----------
    image : ndarray (H, W) or (H, W, 3), values >= 0
    n_components : int
        Rank of each block.
    color : {'channels', 'stacked'}
    max_iter, tol : passed to :class:`fastfactor.NMF`
    random_state : int, RandomState, Generator or None

    Returns
    -------
    Compressed
    """
    image = check_image(image, allow_negative=False)
    color = check_color(image, color)
    matrices = layout_matrices(image, color)
    n_components = _check_rank_for_image(n_components, matrices, image.shape,
                                         allow_energy=False)
    blocks = []
    for M in matrices:
        if not np.any(M):  # NMF cannot start from an all-zero matrix; zeros are exact
            blocks.append((np.zeros((M.shape[0], n_components)),
                           np.zeros((n_components, M.shape[1]))))
            continue
        blocks.append(fit_nmf(M, n_components, max_iter=max_iter, tol=tol,
                              random_state=random_state))
    return Compressed("nmf", image.shape, blocks, color,
                      {"in_unit_range": in_unit_range(image)})


@dataclass
class PatchCodes(Compressed):
    """An image as sparse codes of its non-overlapping patches on a dictionary.

    ``blocks`` holds one pair ``(codes, dictionary)``: codes of shape
    (n_patches, n_atoms), mostly zeros, and the atoms. The stored numbers
    are each non-zero code with its atom index (two numbers), the
    dictionary, and one mean per patch.
    """

    patch_size: tuple = (8, 8)
    means: np.ndarray = None
    decoder_bias: np.ndarray = None

    @property
    def n_numbers(self):
        codes, atoms = self.blocks[0]
        bias = 0 if self.decoder_bias is None else self.decoder_bias.size
        return int(2 * np.count_nonzero(codes) + atoms.size + self.means.size + bias)

    def reconstruct(self, clip=True):
        codes, atoms = self.blocks[0]
        patches = codes @ atoms + self.means
        if self.decoder_bias is not None:
            patches = patches + self.decoder_bias
        image = reconstruct_from_patches(patches, self.shape, self.patch_size,
                                         self.patch_size[0])
        return clip_like(image, clip and self.info.get("in_unit_range", True))


def compress_dictionary(image, n_atoms=64, *, n_nonzero_coefs=4, patch_size=8,
                        model="dictionary", max_iter=3, random_state=0):
    """Compress an image as sparse codes of its patches (dictionary or autoencoder).

    The image is cut into non-overlapping ``patch_size`` patches (colour
    patches keep their three channels together); each patch's mean is
    stored, and the rest is coded sparsely:

    * ``model='dictionary'``: atoms learned by
      :class:`fastfactor.MiniBatchDictionaryLearning`, codes by OMP with
      ``n_nonzero_coefs`` atoms per patch;
    * ``model='autoencoder'``: a :class:`fastfactor.SparseAutoencoder`
      (learned soft-threshold encoder, linear decoder); its codes are as
      sparse as its L1 penalty makes them.

    Parameters
    ----------
    image : ndarray (H, W) or (H, W, 3)
    n_atoms : int
        Dictionary size (code length).
    n_nonzero_coefs : int
        Atoms per patch ('dictionary').
    patch_size : int
    model : {'dictionary', 'autoencoder'}
    max_iter : int
        Passes over the patches when learning.
    random_state : int or None

    Returns
    -------
    PatchCodes
        ``reconstruct()`` gives the image back; ``storage_ratio`` counts
        each non-zero code twice (value and atom index).
    """
    image = check_image(image)
    check_option(model, "model", ("dictionary", "autoencoder"))
    ph, pw = check_patch_size(patch_size, image.shape)
    if ph != pw:
        raise ValueError(f"patch_size must be square for compression, got {ph}x{pw}.")
    patches = extract_patches(image, (ph, pw), ph)
    n_atoms = check_int(n_atoms, "n_atoms", min_value=1, max_value=patches.shape[0])
    n_nonzero_coefs = check_int(n_nonzero_coefs, "n_nonzero_coefs", min_value=1,
                                max_value=n_atoms)
    max_iter = check_int(max_iter, "max_iter", min_value=1)
    means = patches.mean(axis=1, keepdims=True)
    centred = patches - means
    bias = None
    if model == "dictionary":
        codes, atoms = omp_codes(centred, n_atoms, n_nonzero_coefs=n_nonzero_coefs,
                                 max_iter=max_iter, random_state=random_state)
    else:
        codes, atoms, bias = autoencoder_codes(centred, n_atoms, max_iter=50 * max_iter,
                                               random_state=random_state)
    return PatchCodes(model, image.shape, [(codes, atoms)], "patches",
                      {"in_unit_range": in_unit_range(image)}, patch_size=(ph, pw),
                      means=means, decoder_bias=bias)
