"""Image quality: PSNR and (Gaussian-window) SSIM against a reference."""
import numpy as np
import scipy.ndimage

from .._utils.validation import check_float
from ._arrays import check_image


def _check_same_shape(reference, test):
    reference = check_image(reference, "reference")
    test = check_image(test, "test")
    if reference.shape != test.shape:
        raise ValueError(f"reference and test must have the same shape, got "
                         f"{reference.shape} and {test.shape}.")
    return reference.astype(np.float64, copy=False), test.astype(np.float64, copy=False)


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
