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
"""
import os
import tempfile
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.ndimage

from .._utils.validation import check_float, check_int, check_option
from ..svd._svd import randomized_svd

__all__ = [
    "load_image", "save_image", "to_float", "to_uint8", "check_image",
    "sample_image", "sample_collection", "SAMPLE_NAMES",
    "Compressed", "compress_svd", "compress_nmf", "compress_dictionary", "PatchCodes",
    "psnr", "ssim",
    "denoise_svd", "denoise_patches", "optimal_svd_rank", "PATCH_MODELS",
    "extract_patches", "reconstruct_from_patches",
    "images_to_matrix", "matrix_to_images", "make_grid", "nmf_parts",
]

COLOR_LAYOUTS = ("channels", "stacked")
# Pillow modes read as they are, and how
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N")
_COLOR_MODES = ("RGB", "RGBA", "P", "PA")
SUPPORTED_MODES = _GRAY_MODES + _COLOR_MODES


# --------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------

def _pil():
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Reading and writing image files needs Pillow: pip install 'fastfactor[image]'"
        ) from exc
    return Image


def check_image(image, name="image", *, allow_negative=True):
    """Validate an image array: float (H, W) or (H, W, 3), finite, non-empty.

    Integer and boolean images are converted with :func:`to_float`; a
    trailing channel axis of length 1 is dropped.
    """
    if image is None:
        raise ValueError(f"{name} must be an image array, got None.")
    arr = np.asarray(image)
    if arr.dtype.kind not in "fbiu":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}.")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(
            f"{name} must have shape (H, W) for grayscale or (H, W, 3) for colour, "
            f"got shape {arr.shape}."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}).")
    arr = to_float(arr) if arr.dtype.kind != "f" else arr
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    if not allow_negative and arr.min() < 0:
        raise ValueError(f"{name} has negative values (min {arr.min():g}); expected >= 0.")
    return arr


def _check_same_shape(reference, test):
    reference = check_image(reference, "reference")
    test = check_image(test, "test")
    if reference.shape != test.shape:
        raise ValueError(f"reference and test must have the same shape, got "
                         f"{reference.shape} and {test.shape}.")
    return reference.astype(np.float64, copy=False), test.astype(np.float64, copy=False)


def to_float(image, dtype=np.float64):
    """Convert an image to floats in [0, 1].

    uint8 is divided by 255, uint16 by 65535, booleans become 0/1, floats
    are returned as they are (in ``dtype``).
    """
    arr = np.asarray(image)
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        dtype = None
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}.")
    if arr.dtype == np.uint8:
        return (arr / 255.0).astype(dtype)
    if arr.dtype == np.uint16:
        return (arr / 65535.0).astype(dtype)
    if arr.dtype == np.bool_:
        return arr.astype(dtype)
    if arr.dtype.kind == "f":
        return arr.astype(dtype, copy=False)
    raise TypeError(f"image must be uint8, uint16, bool or float, got dtype {arr.dtype} "
                    "(other integer types have no defined range).")


def to_uint8(image):
    """Clip a float image to [0, 1] and round it to uint8."""
    arr = check_image(image)
    return np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)


# --------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------

def load_image(path, *, mode=None, dtype=np.float64):
    """Read an image file into a float array in [0, 1].

    Parameters
    ----------
    path : str or path-like
    mode : {None, 'gray', 'rgb'}
        None keeps the file's kind ((H, W) for grayscale files, (H, W, 3)
        for colour ones); 'gray' converts to luminance (ITU-R 601), 'rgb'
        to three channels. An alpha channel is dropped.
    dtype : float32 or float64

    Returns
    -------
    ndarray of shape (H, W) or (H, W, 3)
        8-bit files are divided by 255; 16- and 32-bit integer grayscale
        by 65535 (and clipped to [0, 1]).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        ``path`` is not a readable image, or its mode is not supported
        (supported: ``SUPPORTED_MODES``).
    """
    check_option(mode, "mode", (None, "gray", "rgb"))
    Image = _pil()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: no such image file: {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"path: {path!r} is a directory, not an image file.")
    try:
        with Image.open(path) as img:
            img.load()
            src_mode = img.mode
            if src_mode not in SUPPORTED_MODES:
                raise ValueError(
                    f"path: image {path!r} has mode {src_mode!r}, which is not supported; "
                    f"supported modes: {', '.join(SUPPORTED_MODES)} (convert it first, "
                    "e.g. with Pillow's Image.convert('RGB'))."
                )
            if src_mode in ("P", "PA"):
                img = img.convert("RGB")
            elif src_mode == "RGBA":
                img = img.convert("RGB")
            elif src_mode in ("LA", "1"):
                img = img.convert("L")
            arr = np.asarray(img)
    except ValueError:
        raise
    except Exception as exc:  # PIL.UnidentifiedImageError, truncated files, ...
        raise ValueError(f"path: cannot read {path!r} as an image: {exc}") from exc
    if src_mode.startswith("I"):
        arr = np.clip(arr.astype(np.float64) / 65535.0, 0.0, 1.0).astype(dtype)
    else:
        arr = to_float(arr.astype(np.uint8, copy=False), dtype)
    if mode == "gray" and arr.ndim == 3:
        arr = (arr @ np.array([0.299, 0.587, 0.114])).astype(dtype)
    elif mode == "rgb" and arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return arr


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_image(path, image):
    """Write an image atomically (a temporary file in the same folder, renamed into place).

    Parameters
    ----------
    path : str or path-like
        The format comes from the extension (.png, .jpg, .bmp, .tif, ...).
    image : ndarray of shape (H, W) or (H, W, 3)
        Floats are clipped to [0, 1] and stored as 8 bits; uint8 is stored
        as is; a (H, W) uint16 array is stored as 16-bit grayscale.

    Returns
    -------
    str
        The path written.
    """
    Image = _pil()
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None or fmt not in Image.SAVE:
        raise ValueError(f"path: cannot tell an image format Pillow can write from the "
                         f"extension {ext!r} of {path!r} (use e.g. .png).")
    arr = np.asarray(image)
    if arr.dtype == np.uint16 and arr.ndim == 2:
        pil_image = Image.fromarray(arr)
    else:
        if arr.dtype != np.uint8:
            arr = to_uint8(arr)
        elif arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        check_image(arr)
        pil_image = Image.fromarray(arr)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"path: folder {folder!r} does not exist.")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            pil_image.save(fh, format=fmt)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# --------------------------------------------------------------------------
# procedural samples
# --------------------------------------------------------------------------

SAMPLE_NAMES = ("landscape", "shapes", "rings", "gradient", "checker")


def _grid(h, w):
    y, x = np.mgrid[0:h, 0:w]
    return y / max(h - 1, 1), x / max(w - 1, 1)


def sample_image(name="landscape", size=(128, 128), color=True, seed=0):
    """A procedural test image (no download).

    Parameters
    ----------
    name : {'landscape', 'shapes', 'rings', 'gradient', 'checker'}
        'landscape': sky, sun, layered mountains and textured ground (smooth
        regions and edges); 'shapes': discs, squares and triangles on a
        textured background; 'rings': concentric rings and angular colour
        waves (far from low rank);
        'gradient': smooth colour ramps (nearly low rank); 'checker': a
        checkerboard (exactly low rank).
    size : int or (height, width)
    color : bool
        (H, W, 3) colour or (H, W) grayscale.
    seed : int
        For the random parts (texture, shape positions).

    Returns
    -------
    ndarray of float64 in [0, 1]
    """
    check_option(name, "name", SAMPLE_NAMES)
    h, w = (size, size) if np.isscalar(size) else tuple(size)
    h = check_int(h, "size", min_value=1)
    w = check_int(w, "size", min_value=1)
    rng = np.random.default_rng(seed)
    y, x = _grid(h, w)
    if name == "landscape":
        sky = np.stack([0.35 + 0.4 * y, 0.55 + 0.3 * y, 0.95 - 0.1 * y], axis=-1)
        img = sky.copy()
        sun = (x - 0.75) ** 2 + (y - 0.22) ** 2 < 0.08 ** 2
        img[sun] = (1.0, 0.9, 0.4)
        for depth, (base, amp, col) in enumerate([
                (0.55, 0.12, (0.45, 0.45, 0.55)), (0.65, 0.1, (0.3, 0.38, 0.3)),
                (0.78, 0.05, (0.2, 0.45, 0.15))]):
            phase = rng.uniform(0, 2 * np.pi, 3)
            ridge = base - amp * (np.sin(2 * np.pi * (x[0] * (2 + depth) + phase[0])) * 0.6
                                  + np.sin(2 * np.pi * (x[0] * (5 + 2 * depth) + phase[1])) * 0.3
                                  + np.sin(2 * np.pi * (x[0] * 11 + phase[2])) * 0.1)
            below = y > ridge[None, :]
            shade = 0.85 + 0.15 * (y - base)
            img[below] = np.asarray(col) * shade[below][:, None]
        texture = scipy.ndimage.gaussian_filter(rng.standard_normal((h, w)), 1.0)
        img += 0.04 * texture[:, :, None] * (y > 0.75)[:, :, None]
    elif name == "shapes":
        base = scipy.ndimage.gaussian_filter(rng.standard_normal((h, w)), 3.0)
        base = 0.5 + 0.15 * base / (np.abs(base).max() + 1e-12)
        img = np.stack([base * 0.9, base, base * 1.1], axis=-1)
        for _ in range(8):
            col = rng.uniform(0.05, 1.0, 3)
            cy, cx, r = rng.uniform(0.15, 0.85), rng.uniform(0.15, 0.85), rng.uniform(0.05, 0.15)
            kind = rng.integers(3)
            if kind == 0:
                mask = (x - cx) ** 2 + (y - cy) ** 2 < r ** 2
            elif kind == 1:
                mask = (np.abs(x - cx) < r) & (np.abs(y - cy) < r)
            else:
                mask = (y - cy < r) & (y - cy > -r + 2 * np.abs(x - cx))
            img[mask] = col
    elif name == "rings":
        r = np.sqrt((x - 0.5) ** 2 + (y - 0.5) ** 2)
        angle = np.arctan2(y - 0.5, x - 0.5)
        v = 0.5 + 0.5 * np.cos(2 * np.pi * 10 * r)
        img = np.stack([v, 0.5 + 0.5 * np.cos(2 * np.pi * 10 * r + 2 * angle),
                        0.5 + 0.5 * np.sin(3 * angle) * (1 - r)], axis=-1)
    elif name == "gradient":
        img = np.stack([x, y, 0.5 + 0.5 * np.sin(np.pi * x) * (1 - y)], axis=-1)
    else:  # checker
        cells = max(2, min(h, w) // 16)
        v = ((np.floor(y * cells * 0.999) + np.floor(x * cells * 0.999)) % 2).astype(float)
        img = np.stack([0.1 + 0.8 * v, 0.2 + 0.5 * v, 0.9 - 0.7 * v], axis=-1)
    img = np.clip(img, 0.0, 1.0)
    if not color:
        img = img @ np.array([0.299, 0.587, 0.114])
    return img


def sample_collection(n_images=64, size=16, seed=0):
    """A collection of small grayscale images: blurred bars, discs and crosses.

    Useful for NMF parts and generative models.

    Returns
    -------
    ndarray of shape (n_images, size, size), float64 in [0, 1]
    """
    n_images = check_int(n_images, "n_images", min_value=1)
    size = check_int(size, "size", min_value=4)
    rng = np.random.default_rng(seed)
    y, x = _grid(size, size)
    out = np.empty((n_images, size, size))
    for i in range(n_images):
        img = np.zeros((size, size))
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0.2, 0.8, 2)
            kind = rng.integers(3)
            if kind == 0:
                img += np.abs(y - cy) < 0.08
            elif kind == 1:
                img += np.abs(x - cx) < 0.08
            else:
                img += (x - cx) ** 2 + (y - cy) ** 2 < 0.04
        img = scipy.ndimage.gaussian_filter(np.clip(img, 0, 1), 0.6)
        out[i] = np.clip(img + 0.02 * rng.standard_normal((size, size)), 0, 1)
    return out


# --------------------------------------------------------------------------
# compression
# --------------------------------------------------------------------------

def _split(image, color):
    """The matrices a colour layout factorizes, and how to put them back."""
    if image.ndim == 2:
        return [image]
    if color == "channels":
        return [np.ascontiguousarray(image[:, :, c]) for c in range(image.shape[2])]
    return [image.reshape(image.shape[0], -1)]  # (H, W*3): channels side by side per pixel


def _merge(blocks, shape):
    if len(shape) == 2:
        return blocks[0]
    if len(blocks) == 1:
        return blocks[0].reshape(shape)
    return np.stack(blocks, axis=-1)


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
        image = _merge([left @ right for left, right in self.blocks], self.shape)
        return _clip_like(image, self.info.get("in_unit_range", True)) if clip else image


def _in_unit_range(image):
    return bool(image.min() >= 0.0 and image.max() <= 1.0)


def _clip_like(result, in_unit_range):
    """Clip to [0, 1] only when the input image was in [0, 1]."""
    return np.clip(result, 0.0, 1.0) if in_unit_range else result


def _check_color(image, color):
    check_option(color, "color", COLOR_LAYOUTS)
    return "gray" if image.ndim == 2 else color


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
    color = _check_color(image, color)
    matrices = _split(image, color)
    n_components = _check_rank_for_image(n_components, matrices, image.shape)
    blocks, kept = [], []
    for M in matrices:
        U, S, Vt = randomized_svd(M, n_components, energy=energy, random_state=random_state)
        blocks.append((U * S, Vt))
        kept.append(float(np.sum(S.astype(np.float64) ** 2) / np.sum(M * M, dtype=np.float64))
                    if np.any(M) else 1.0)
    return Compressed("svd", image.shape, blocks, color,
                      {"energy": tuple(kept), "in_unit_range": _in_unit_range(image)})


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
    from ..nmf._nmf import NMF

    image = check_image(image, allow_negative=False)
    color = _check_color(image, color)
    matrices = _split(image, color)
    n_components = _check_rank_for_image(n_components, matrices, image.shape,
                                         allow_energy=False)
    blocks = []
    for M in matrices:
        if not np.any(M):  # NMF cannot start from an all-zero matrix; zeros are exact
            blocks.append((np.zeros((M.shape[0], n_components)),
                           np.zeros((n_components, M.shape[1]))))
            continue
        model = NMF(n_components, init="nndsvda", max_iter=max_iter, tol=tol,
                    random_state=random_state)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Maximum number of iterations")
            W = model.fit_transform(M)
        blocks.append((W, model.components_))
    return Compressed("nmf", image.shape, blocks, color,
                      {"in_unit_range": _in_unit_range(image)})


# --------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------

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
        return _clip_like(image, clip and self.info.get("in_unit_range", True))


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
    from ..sparse_coding._sparse_coding import MiniBatchDictionaryLearning, SparseAutoencoder, sparse_encode

    image = check_image(image)
    check_option(model, "model", ("dictionary", "autoencoder"))
    ph, pw = _check_patch_size(patch_size, image.shape)
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
        learner = MiniBatchDictionaryLearning(n_components=n_atoms, alpha=0.1, batch_size=256,
                                              max_iter=max_iter, fit_algorithm="cd",
                                              random_state=random_state)
        with warnings.catch_warnings():  # inner lasso tolerance warnings while learning
            warnings.simplefilter("ignore")
            atoms = learner.fit(centred).components_
        codes = sparse_encode(centred, atoms, algorithm="omp", n_nonzero_coefs=n_nonzero_coefs)
    else:
        coder = SparseAutoencoder(n_components=n_atoms, alpha=1e-3, max_iter=50 * max_iter,
                                  random_state=random_state).fit(centred)
        codes, atoms, bias = coder.transform(centred), coder.components_, coder.decoder_bias_
    return PatchCodes(model, image.shape, [(codes, atoms)], "patches",
                      {"in_unit_range": _in_unit_range(image)}, patch_size=(ph, pw),
                      means=means, decoder_bias=bias)


def _check_data_range(data_range):
    return check_float(data_range, "data_range", min_value=0, min_inclusive=False)


def psnr(reference, test, data_range=1.0):
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range^2 / MSE)`` (inf if equal)."""
    reference, test = _check_same_shape(reference, test)
    data_range = _check_data_range(data_range)
    mse = float(np.mean((reference - test) ** 2))
    return np.inf if mse == 0 else 10.0 * np.log10(data_range ** 2 / mse)


def ssim(reference, test, *, data_range=1.0, sigma=1.5, truncate=3.5, K1=0.01, K2=0.03):
    """Mean structural similarity with a Gaussian window (Wang et al. 2004).

    Local means, variances and the covariance are Gaussian-weighted
    (``sigma=1.5``, an 11x11 window with ``truncate=3.5``)::

        SSIM = (2 mu_x mu_y + C1)(2 cov_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2))

    with ``C1 = (K1 L)^2``, ``C2 = (K2 L)^2``, ``L = data_range``, averaged
    over the positions where the window fits inside the image (a border of
    the window radius is left out) and, for colour, over the channels.

    Raises
    ------
    ValueError
        When the image is smaller than the window.
    """
    reference, test = _check_same_shape(reference, test)
    data_range = _check_data_range(data_range)
    sigma = check_float(sigma, "sigma", min_value=0, min_inclusive=False)
    truncate = check_float(truncate, "truncate", min_value=0, min_inclusive=False)
    radius = int(truncate * sigma + 0.5)
    win = 2 * radius + 1
    if min(reference.shape[:2]) < win:
        raise ValueError(f"reference and test ({reference.shape[0]}x{reference.shape[1]}) are "
                         f"smaller than the {win}x{win} SSIM window (sigma={sigma}, "
                         f"truncate={truncate}); use a smaller sigma.")
    spatial = (sigma, sigma) + (0,) * (reference.ndim - 2)

    def blur(a):
        return scipy.ndimage.gaussian_filter(a, spatial, truncate=truncate, mode="reflect")

    mu_x, mu_y = blur(reference), blur(test)
    var_x = blur(reference * reference) - mu_x * mu_x
    var_y = blur(test * test) - mu_y * mu_y
    cov = blur(reference * test) - mu_x * mu_y
    C1, C2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    smap = ((2 * mu_x * mu_y + C1) * (2 * cov + C2)
            / ((mu_x ** 2 + mu_y ** 2 + C1) * (var_x + var_y + C2)))
    inner = smap[radius:smap.shape[0] - radius, radius:smap.shape[1] - radius]
    return float(inner.mean())


# --------------------------------------------------------------------------
# denoising
# --------------------------------------------------------------------------

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
        lam = np.sqrt(2 * (beta + 1) + 8 * beta / ((beta + 1) + np.sqrt(beta ** 2 + 14 * beta + 1)))
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
    color = _check_color(image, color)
    blocks, ranks = [], []
    for M in _split(image, color):
        U, S, Vt = scipy.linalg.svd(M, full_matrices=False)
        k = optimal_svd_rank(S, M.shape, noise_sigma)
        blocks.append((U[:, :k] * S[:k]) @ Vt[:k])
        ranks.append(k)
    return _clip_like(_merge(blocks, image.shape), _in_unit_range(image)), tuple(ranks)


def _check_patch_size(patch_size, image_shape, name="patch_size"):
    if np.isscalar(patch_size):
        patch_size = (patch_size, patch_size)
    ph, pw = (check_int(p, name, min_value=1) for p in patch_size)
    if ph > image_shape[0] or pw > image_shape[1]:
        raise ValueError(f"{name}={ph}x{pw} is larger than the image "
                         f"({image_shape[0]}x{image_shape[1]}).")
    return ph, pw


def _check_step(step, ph, pw):
    step = check_int(step, "step", min_value=1)
    if step > min(ph, pw):
        raise ValueError(f"step={step} is larger than the patch size {ph}x{pw}: some pixels "
                         "would be in no patch.")
    return step


def _positions(length, patch, step):
    starts = list(range(0, length - patch + 1, step))
    if starts[-1] != length - patch:  # always cover the last rows/columns
        starts.append(length - patch)
    return np.asarray(starts)


def extract_patches(image, patch_size=8, step=1):
    """All (strided) patches of an image as rows of a matrix.

    Parameters
    ----------
    image : ndarray (H, W) or (H, W, 3)
    patch_size : int or (int, int)
    step : int
        Distance between patch corners, at most the patch size (the last
        row/column of patches is always included, so every pixel is covered).

    Returns
    -------
    ndarray of shape (n_patches, ph * pw * channels)
    """
    image = check_image(image)
    ph, pw = _check_patch_size(patch_size, image.shape)
    step = _check_step(step, ph, pw)
    rows, cols = _positions(image.shape[0], ph, step), _positions(image.shape[1], pw, step)
    view = np.lib.stride_tricks.sliding_window_view(image, (ph, pw), axis=(0, 1))
    patches = view[rows][:, cols]  # (nr, nc, [C,] ph, pw)
    if image.ndim == 3:
        patches = np.moveaxis(patches, 2, -1)  # (nr, nc, ph, pw, C)
    return patches.reshape(len(rows) * len(cols), -1)


def reconstruct_from_patches(patches, image_shape, patch_size=8, step=1):
    """Put patches from :func:`extract_patches` back, averaging where they overlap."""
    image_shape = tuple(image_shape)
    if len(image_shape) not in (2, 3):
        raise ValueError(f"image_shape must be (H, W) or (H, W, C), got {image_shape}.")
    ph, pw = _check_patch_size(patch_size, image_shape)
    step = _check_step(step, ph, pw)
    rows, cols = _positions(image_shape[0], ph, step), _positions(image_shape[1], pw, step)
    channels = image_shape[2:] if len(image_shape) == 3 else ()
    patches = np.asarray(patches, dtype=np.float64)
    expected = (len(rows) * len(cols), ph * pw * int(np.prod(channels)))
    if patches.shape != expected:
        raise ValueError(f"patches must have shape {expected} for image_shape {image_shape}, "
                         f"patch_size {ph}x{pw} and step {step}, got {patches.shape}.")
    patches = patches.reshape(len(rows), len(cols), ph, pw, *channels)
    out = np.zeros(image_shape)
    count = np.zeros(image_shape[:2])
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            out[r:r + ph, c:c + pw] += patches[i, j]
            count[r:r + ph, c:c + pw] += 1
    return out / (count[:, :, None] if channels else count)


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
    from ..sparse_coding._sparse_coding import MiniBatchDictionaryLearning, sparse_encode

    n_atoms = n_components if isinstance(n_components, (int, np.integer)) else 64
    n_atoms = min(int(n_atoms), patches.shape[0])
    mean = patches.mean(axis=1, keepdims=True)
    centred = patches - mean
    learner = MiniBatchDictionaryLearning(n_components=n_atoms, alpha=0.1, batch_size=256,
                                          max_iter=2, fit_algorithm="cd",
                                          random_state=random_state)
    with warnings.catch_warnings():  # a rough dictionary is enough to denoise
        warnings.simplefilter("ignore")
        atoms = learner.fit(centred).components_
    codes = sparse_encode(centred, atoms, algorithm="omp",
                          n_nonzero_coefs=max(1, min(4, n_atoms)))
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
    ph, pw = _check_patch_size(patch_size, image.shape)
    patches = extract_patches(image, (ph, pw), step)
    if not isinstance(n_components, float):
        n_components = check_int(n_components, "n_components", min_value=1,
                                 max_value=min(patches.shape))
    cleaned = PATCH_MODELS[model](patches, n_components, random_state)
    return _clip_like(reconstruct_from_patches(cleaned, image.shape, (ph, pw), step),
                      _in_unit_range(image))


# --------------------------------------------------------------------------
# collections
# --------------------------------------------------------------------------

def images_to_matrix(images):
    """Stack same-shaped images as rows: (n, H, W[, C]) -> (n, H*W*C), plus the image shape."""
    arr = np.asarray(images, dtype=np.float64)
    if arr.ndim not in (3, 4) or arr.shape[0] == 0:
        raise ValueError(f"images must be a non-empty stack of shape (n, H, W) or "
                         f"(n, H, W, C), got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError("images contains NaN or infinity.")
    return arr.reshape(arr.shape[0], -1), arr.shape[1:]


def matrix_to_images(X, image_shape):
    """Inverse of :func:`images_to_matrix`."""
    X = np.asarray(X)
    size = int(np.prod(image_shape))
    if X.ndim != 2 or X.shape[1] != size:
        raise ValueError(f"X must have shape (n, {size}) for image_shape {tuple(image_shape)}, "
                         f"got {X.shape}.")
    return X.reshape((X.shape[0],) + tuple(image_shape))


def make_grid(images, n_cols=None, pad=1, normalize=False, background=1.0):
    """Tile a stack of images into one image (for parts, samples, comparisons).

    Parameters
    ----------
    images : array of shape (n, H, W) or (n, H, W, 3)
    n_cols : int, optional
        Default: about sqrt(n).
    pad : int
        Pixels between tiles.
    normalize : bool
        Scale each tile to [0, 1] (for factors such as NMF parts).
    background : float
        Value of the padding.
    """
    arr = np.asarray(images, dtype=np.float64)
    if arr.ndim not in (3, 4) or arr.shape[0] == 0:
        raise ValueError(f"images must be a non-empty stack (n, H, W[, 3]), got {arr.shape}.")
    n = arr.shape[0]
    n_cols = int(np.ceil(np.sqrt(n))) if n_cols is None else check_int(n_cols, "n_cols",
                                                                         min_value=1)
    pad = check_int(pad, "pad", min_value=0)
    if normalize:
        lo = arr.reshape(n, -1).min(axis=1)
        hi = arr.reshape(n, -1).max(axis=1)
        scale = np.where(hi > lo, hi - lo, 1.0)
        arr = (arr - lo.reshape((n,) + (1,) * (arr.ndim - 1))) / scale.reshape(
            (n,) + (1,) * (arr.ndim - 1))
    n_rows = int(np.ceil(n / n_cols))
    h, w = arr.shape[1:3]
    out = np.full((n_rows * (h + pad) - pad, n_cols * (w + pad) - pad) + arr.shape[3:],
                  float(background))
    for i in range(n):
        r, c = divmod(i, n_cols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = arr[i]
    return out


def nmf_parts(images, n_components, *, max_iter=400, random_state=0):
    """Non-negative parts of an image collection: NMF of the images-as-rows matrix.

    Returns
    -------
    parts : ndarray of shape (n_components, H, W[, C])
        The NMF components reshaped as images (show them with
        ``make_grid(parts, normalize=True)``).
    weights : ndarray of shape (n_images, n_components)
    """
    from ..nmf._nmf import NMF

    X, shape = images_to_matrix(images)
    if X.min() < 0:
        raise ValueError(f"images has negative values (min {X.min():g}); NMF needs >= 0.")
    n_components = check_int(n_components, "n_components", min_value=1,
                             max_value=min(X.shape))
    model = NMF(n_components, init="nndsvda", max_iter=max_iter, random_state=random_state)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Maximum number of iterations")
        weights = model.fit_transform(X)
    return matrix_to_images(model.components_, shape), weights
