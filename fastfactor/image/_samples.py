"""Procedural test images and collections, made here (no download)."""
import numpy as np
import scipy.ndimage

from .._utils.validation import check_int, check_option

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
