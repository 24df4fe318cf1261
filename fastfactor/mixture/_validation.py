"""Checks of the initial parameters a user gives a Gaussian mixture.

Each error starts with scikit-learn's wording for the same input (code and
tests match on it); what was found and what is expected follows.
"""
import numpy as np

from .._utils.validation import FLOAT_DTYPES, _check_finite, _to_float_array

# the shape each covariance type's precisions have, and how it reads
_PRECISION_SHAPES = {
    "full": lambda K, d: ((K, d, d), "(n_components, n_features, n_features)"),
    "tied": lambda K, d: ((d, d), "(n_features, n_features)"),
    "diag": lambda K, d: ((K, d), "(n_components, n_features)"),
    "spherical": lambda K, d: ((K,), "(n_components,)"),
}


def check_array_nd(A, *, name, dtype):
    """Any-dimensional finite float array (for parameter arrays, not data).

    Parameters
    ----------
    A : array-like
    name : str
        How the argument is called in error messages.
    dtype : numpy dtype
        The float dtype of the result.

    Returns
    -------
    ndarray
        C-contiguous, of ``dtype``.
    """
    if A is None:
        raise ValueError(f"{name} must be an array-like, got None.")
    arr = _to_float_array(A, name, dtype)
    if arr.dtype not in FLOAT_DTYPES:
        arr = arr.astype(dtype)
    arr = np.ascontiguousarray(arr, dtype=dtype)
    _check_finite(arr, name)
    return arr


def _init_array(A, name, param, shape, what, dtype):
    """``A`` as a float array of ``shape``; ``param`` is scikit-learn's name of it."""
    A = check_array_nd(A, name=name, dtype=dtype)
    if A.shape != tuple(shape):
        raise ValueError(f"The parameter '{param}' should have the shape of {tuple(shape)}, "
                         f"but got {A.shape}: {name} must have shape {what}.")
    return A


def check_gmm_weights(weights, n_components, dtype):
    """User-given initial mixture weights: shape (K,), in [0, 1], summing to 1.

    Parameters
    ----------
    weights : array-like of shape (n_components,)
    n_components : int
    dtype : numpy dtype
        X's dtype, the dtype of the result.

    Returns
    -------
    ndarray of shape (n_components,)
    """
    w = _init_array(weights, "weights_init", "weights", (n_components,), "(n_components,)",
                    dtype)
    if np.any(w < 0) or np.any(w > 1):
        lo, hi = w.min(), w.max()
        # scikit-learn's message prints the minimum as "max value" and the
        # maximum as "min value"; code matches it as it is, so it is kept
        raise ValueError("The parameter 'weights' should be in the range [0, 1], but got "
                         f"max value {lo:.5f}, min value {hi:.5f} (weights_init holds values "
                         f"from {lo:g} to {hi:g}; every weight must be in [0, 1]).")
    atol = 1e-6 if dtype == np.float32 else 1e-8
    total = float(w.sum(dtype=np.float64))
    if abs(1.0 - total) > atol:
        raise ValueError("The parameter 'weights' should be normalized, but got "
                         f"sum(weights) = {total:.5f} (weights_init must sum to 1, within "
                         f"{atol:g}).")
    return w


def check_gmm_means(means, n_components, n_features, dtype):
    """User-given initial means: shape (K, n_features).

    Parameters
    ----------
    means : array-like of shape (n_components, n_features)
    n_components, n_features : int
    dtype : numpy dtype

    Returns
    -------
    ndarray of shape (n_components, n_features)
    """
    return _init_array(means, "means_init", "means", (n_components, n_features),
                       "(n_components, n_features)", dtype)


def check_gmm_precisions(precisions, covariance_type, n_components, n_features, dtype):
    """User-given initial precisions: shape of the covariance type, positive (definite).

    Parameters
    ----------
    precisions : array-like
        (K, d, d) 'full', (d, d) 'tied', (K, d) 'diag', (K,) 'spherical'.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_components, n_features : int
    dtype : numpy dtype

    Returns
    -------
    ndarray
    """
    shape, what = _PRECISION_SHAPES[covariance_type](n_components, n_features)
    param = f"{covariance_type} precision"
    P = _init_array(precisions, "precisions_init", param, shape,
                    f"{what} for covariance_type={covariance_type!r}", dtype)
    if covariance_type in ("diag", "spherical"):
        if np.any(P <= 0):
            raise ValueError(f"'{param}' should be positive: every entry of precisions_init "
                             f"must be > 0 (min found: {P.min():g}).")
        return P
    mats = P if covariance_type == "full" else P[None]
    for k, M in enumerate(mats):
        which = f"precisions_init[{k}]" if covariance_type == "full" else "precisions_init"
        if not np.allclose(M, M.T):
            raise ValueError(f"'{param}' should be symmetric, positive-definite: {which} is "
                             "not symmetric.")
        lowest = np.linalg.eigvalsh(M.astype(np.float64)).min()
        if not lowest > 0:
            raise ValueError(f"'{param}' should be symmetric, positive-definite: {which} "
                             f"has smallest eigenvalue {lowest:g}.")
    return P
