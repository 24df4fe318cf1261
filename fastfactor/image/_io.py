"""Reading and writing image files (Pillow, the optional extra ``fastfactor[image]``)."""
import os
import tempfile

import numpy as np

from .._utils.validation import check_option
from ._arrays import check_image, to_float, to_uint8

# Pillow modes read as they are, and how
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N")
_COLOR_MODES = ("RGB", "RGBA", "P", "PA")
SUPPORTED_MODES = _GRAY_MODES + _COLOR_MODES


def _pil():
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Reading and writing image files needs Pillow: pip install 'fastfactor[image]'"
        ) from exc
    return Image


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
