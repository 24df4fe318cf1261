"""Collections: same-shaped images as the rows of a matrix, grids of them, NMF parts."""
import numpy as np

from .._utils.validation import check_int
from ._models import fit_nmf


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
    X, shape = images_to_matrix(images)
    if X.min() < 0:
        raise ValueError(f"images has negative values (min {X.min():g}); NMF needs >= 0.")
    n_components = check_int(n_components, "n_components", min_value=1,
                             max_value=min(X.shape))
    weights, components = fit_nmf(X, n_components, max_iter=max_iter,
                                  random_state=random_state)
    return matrix_to_images(components, shape), weights
