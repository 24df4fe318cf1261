"""Input checks only the NMF estimators need: custom factors and beta <= 0 on zeros.

The messages start with scikit-learn's wording (code and tests match it) and
go on with fastfactor's detail. scikit-learn names every custom factor
"NMF (input W/H)", MiniBatchNMF's included, and so do these checks.
"""
import numpy as np
import scipy.sparse as sp

from .._utils.validation import check_array, check_non_negative

__all__ = ["check_custom_factors", "check_fixed_H", "check_beta_zeros", "has_zero"]

_WHOM = "NMF"  # scikit-learn's name for the estimator in every custom-factor message


def _check_factor(A, shape, name):
    """A user's factor as a 2-D finite float array of ``shape`` ('auto': any), >= 0, not all 0.

    Its dtype is left as given (the caller compares it with X's, after
    these checks, in scikit-learn's order).
    """
    A = check_array(A, name=name, dtype=None, whom=_WHOM, ensure_min_samples=0,
                    ensure_min_features=0)
    for axis, expected in enumerate(shape):
        if expected != "auto" and A.shape[axis] != expected:
            which = ("first", "second")[axis]
            raise ValueError(
                f"Array with wrong {which} dimension passed to {_WHOM} (input {name}). "
                f"Expected {expected}, but got {A.shape[axis]}. {name} has shape {A.shape}."
            )
    check_non_negative(A, _WHOM, name=name)
    if A.size == 0 or A.max() == 0:
        raise ValueError(f"Array passed to {_WHOM} (input {name}) is full of zeros. The "
                         f"updates cannot move an all-zero {name}.")
    return A


def _dtype_of(A):
    return A.dtype if hasattr(A, "dtype") else np.asarray(A).dtype


def check_custom_factors(W, H, n_samples, n_features, n_components, dtype):
    """W and H given with ``init='custom'``, checked against X's shape and ``dtype``.

    Parameters
    ----------
    W, H : array-like
        The user's initial factors.
    n_samples, n_features : int
        X's shape.
    n_components : int or 'auto'
        'auto' takes the count from H.
    dtype : numpy dtype
        X's dtype; both factors must have it (a silent cast would hide that
        the caller's factors are not X's).

    Returns
    -------
    W, H : ndarray
        The checked factors: the caller's own arrays when they already are
        C-contiguous ndarrays (nothing is copied here).
    """
    H_checked = _check_factor(H, (n_components, n_features), "H")
    if n_components == "auto":
        n_components = H_checked.shape[0]
    W_checked = _check_factor(W, (n_samples, n_components), "W")
    H_dtype, W_dtype = _dtype_of(H), _dtype_of(W)
    if H_dtype != dtype or W_dtype != dtype:
        raise TypeError(f"H and W should have the same dtype as X. Got H.dtype = {H_dtype} "
                        f"and W.dtype = {W_dtype}. X.dtype is {np.dtype(dtype)}.")
    return W_checked, H_checked


def check_fixed_H(H, n_components, n_features, dtype):
    """H held fixed (``update_H=False``): checked as in :func:`check_custom_factors`."""
    H_checked = _check_factor(H, (n_components, n_features), "H")
    if _dtype_of(H) != dtype:
        raise TypeError(f"H should have the same dtype as X. Got H.dtype = {_dtype_of(H)}. "
                        f"X.dtype is {np.dtype(dtype)}.")
    return H_checked


def has_zero(X):
    """Whether X (dense or CSR) holds a zero, an implicit one of a sparse X included."""
    values = X.data if sp.issparse(X) else X
    return values.size < X.shape[0] * X.shape[1] or values.min() == 0


def check_beta_zeros(beta, beta_loss, has_zero, where="X"):
    """Raise when ``beta <= 0`` and the data has a zero: the divergence is infinite there.

    Parameters
    ----------
    beta : float
        The beta of the loss.
    beta_loss : str or float
        The user's ``beta_loss`` (named in the message).
    has_zero : bool or callable
        Whether the data holds a zero; a callable is only evaluated when
        ``beta <= 0``, so the common case costs no pass over the data.
    where : str
        What was searched for zeros, for the message.
    """
    if beta > 0:
        return
    if callable(has_zero):
        has_zero = has_zero()
    if has_zero:
        raise ValueError(
            "When beta_loss <= 0 and X contains zeros, the solver may diverge. Please add "
            f"small values to X, or use a positive beta_loss. Here beta_loss={beta_loss!r} "
            f"and {where} hold a zero, where the divergence is infinite."
        )
