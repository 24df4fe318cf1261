"""Patches: an image as the rows of a matrix of its (overlapping) patches, and back."""
import numpy as np

from .._utils.validation import check_int
from ._arrays import check_image


def check_patch_size(patch_size, image_shape, name="patch_size"):
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
    ph, pw = check_patch_size(patch_size, image.shape)
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
    ph, pw = check_patch_size(patch_size, image_shape)
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
