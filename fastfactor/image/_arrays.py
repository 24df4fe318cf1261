"""Image arrays: validation, conversion to and from [0, 1] floats, colour layouts.

Images are float arrays in [0, 1]: ``(H, W)`` for grayscale, ``(H, W, 3)``
for colour. A colour image is factorized per channel (``color='channels'``)
or as its channels side by side (``color='stacked'``): :func:`layout_matrices`
gives the matrices and :func:`merge_blocks` puts them back.
"""
import numpy as np

from .._utils.validation import check_option

COLOR_LAYOUTS = ("channels", "stacked")


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


def check_color(image, color):
    """The colour layout used for ``image``: 'gray' for a grayscale image, else ``color``."""
    check_option(color, "color", COLOR_LAYOUTS)
    return "gray" if image.ndim == 2 else color


def layout_matrices(image, color):
    """The matrices a colour layout factorizes (:func:`merge_blocks` puts them back)."""
    if image.ndim == 2:
        return [image]
    if color == "channels":
        return [np.ascontiguousarray(image[:, :, c]) for c in range(image.shape[2])]
    return [image.reshape(image.shape[0], -1)]  # (H, W*3): channels side by side per pixel


def merge_blocks(blocks, shape):
    """The image of ``shape`` made of the (rebuilt) matrices of its colour layout."""
    if len(shape) == 2:
        return blocks[0]
    if len(blocks) == 1:
        return blocks[0].reshape(shape)
    return np.stack(blocks, axis=-1)


def in_unit_range(image):
    """True when every value of ``image`` is in [0, 1]."""
    return bool(image.min() >= 0.0 and image.max() <= 1.0)


def clip_like(result, was_in_unit_range):
    """Clip to [0, 1] only when the input image was in [0, 1]."""
    return np.clip(result, 0.0, 1.0) if was_in_unit_range else result
