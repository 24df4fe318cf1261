"""Small dense linear-algebra helpers shared by the families."""
import numpy as np


def sign_flips(rows):
    """+1/-1 per row: the sign of the row's largest-magnitude entry (+1 for a zero row).

    Parameters
    ----------
    rows : ndarray of shape (k, n)

    Returns
    -------
    ndarray of shape (k,)
        In ``rows``' dtype.
    """
    idx = np.argmax(np.abs(rows), axis=1)
    signs = np.sign(rows[np.arange(rows.shape[0]), idx])
    signs[signs == 0] = 1
    return signs


def flip_signs(U, Vt, u_based=True):
    """Deterministic signs for an SVD (scikit-learn's ``svd_flip``).

    Each singular pair ``(U[:, i], Vt[i])`` is negated, when needed, so that
    the largest-magnitude entry of ``U[:, i]`` (``u_based=True``) or of
    ``Vt[i]`` (``u_based=False``) is positive. ``U @ diag(S) @ Vt`` is
    unchanged.

    Parameters
    ----------
    U : ndarray of shape (m, k)
    Vt : ndarray of shape (k, n)
    u_based : bool, default=True
        Decide the signs on the columns of U, else on the rows of Vt.

    Returns
    -------
    U, Vt : ndarrays
        New arrays with the signs applied.
    """
    signs = sign_flips(U.T) if u_based else sign_flips(Vt)
    signs = signs.astype(U.dtype, copy=False)
    return U * signs, Vt * signs[:, None]
