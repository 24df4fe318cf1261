"""Image workflows: load/save, procedural samples, compression, metrics, denoising.

Images are float arrays in [0, 1]: ``(H, W)`` for grayscale, ``(H, W, 3)``
for colour. Pillow (the optional extra ``fastfactor[image]``) is needed only
to read and write files; everything else is numpy/scipy.

The pieces are small and meant to be combined:

* **I/O**: :func:`load_image`, :func:`save_image` (atomic: a temporary file
  renamed into place, so a failed write never leaves a half-written file),
  :func:`to_float`, :func:`to_uint8`.
* **Samples**: :func:`sample_image` (procedural scenes) and
  :func:`sample_collection` (a set of small images), made here, no download.
* **Compression**: :func:`compress_svd` (rank or energy fraction) and
  :func:`compress_nmf` return a :class:`Compressed`: a list of blocks, each a
  product ``left @ right`` of two factors, that knows how to
  :meth:`~Compressed.reconstruct` itself and its storage ratio. Colour is
  handled per channel (``color='channels'``) or on the channels stacked
  side by side (``color='stacked'``, one shared left factor).
* **Metrics**: :func:`psnr`, :func:`ssim` (Gaussian-window SSIM of Wang et
  al. 2004), :meth:`Compressed.storage_ratio`.
* **Denoising**: :func:`denoise_svd` (truncated SVD of the whole image, rank
  by the Gavish-Donoho optimal hard threshold by default) and
  :func:`denoise_patches` (overlapping patches, a low-rank model of the patch
  matrix, overlaps averaged back).
* **Patches and collections** for patch- and collection-based models:
  :func:`extract_patches`, :func:`reconstruct_from_patches`,
  :func:`images_to_matrix`, :func:`matrix_to_images`, :func:`make_grid`,
  :func:`nmf_parts`.

Adding a model is a small function: a patch model is a callable
``(patches, n_components, random_state) -> cleaned patches`` registered in
``PATCH_MODELS`` (a dictionary-learning denoiser fits atoms on the noisy
patches and returns ``codes @ atoms``); a compressor returns a
:class:`Compressed` whose blocks are ``(codes, dictionary)`` pairs; a
generator fits a model on :func:`images_to_matrix` of a collection and maps
its samples back with :func:`matrix_to_images`.

Where each piece lives: ``_arrays`` (validation, conversion, colour
layouts), ``_io``, ``_samples``, ``_compress``, ``_metrics``, ``_denoise``,
``_patches``, ``_collection``, and ``_models`` (the NMF and dictionary fits
that compression, denoising and collections share).
"""
from ._arrays import COLOR_LAYOUTS, check_image, to_float, to_uint8
from ._collection import images_to_matrix, make_grid, matrix_to_images, nmf_parts
from ._compress import Compressed, PatchCodes, compress_dictionary, compress_nmf, compress_svd
from ._denoise import PATCH_MODELS, denoise_patches, denoise_svd, optimal_svd_rank
from ._io import SUPPORTED_MODES, load_image, save_image
from ._metrics import psnr, ssim
from ._patches import extract_patches, reconstruct_from_patches
from ._samples import SAMPLE_NAMES, sample_collection, sample_image

__all__ = [
    "load_image", "save_image", "to_float", "to_uint8", "check_image",
    "sample_image", "sample_collection", "SAMPLE_NAMES",
    "Compressed", "compress_svd", "compress_nmf", "compress_dictionary", "PatchCodes",
    "psnr", "ssim",
    "denoise_svd", "denoise_patches", "optimal_svd_rank", "PATCH_MODELS",
    "extract_patches", "reconstruct_from_patches",
    "images_to_matrix", "matrix_to_images", "make_grid", "nmf_parts",
]
