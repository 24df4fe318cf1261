"""The losses of NMF: beta-divergences and the Frobenius loss from Gram matrices.

Every NMF path (plain, masked, mini-batch, deep, Dask) measures its loss
with these functions, so all of them report the same numbers for the same
factors.
"""
import numbers

import numpy as np

from .. import kernels
from ._data import EPSILON

__all__ = ["beta_loss_to_float", "gram64", "frobenius_from_gram", "frobenius_loss",
           "beta_divergence"]

_BETA_NAMES = {"frobenius": 2.0, "kullback-leibler": 1.0, "itakura-saito": 0.0}


def beta_loss_to_float(beta_loss):
    """Map 'frobenius'/'kullback-leibler'/'itakura-saito' or a number to a float beta."""
    if isinstance(beta_loss, str):
        if beta_loss not in _BETA_NAMES:
            raise ValueError(
                f"beta_loss must be one of {list(_BETA_NAMES)} or a float, got {beta_loss!r}."
            )
        return _BETA_NAMES[beta_loss]
    if isinstance(beta_loss, bool) or not isinstance(beta_loss, numbers.Real):
        raise TypeError(f"beta_loss must be a string or a float, got {beta_loss!r}.")
    beta = float(beta_loss)
    if not np.isfinite(beta):
        raise ValueError(f"beta_loss must be finite, got {beta_loss!r}.")
    return beta


def gram64(F):
    """``F.T @ F`` computed in float64."""
    F64 = F.astype(np.float64)
    return F64.T @ F64


def frobenius_from_gram(sq_norm_X, cross, WtW, HHt):
    """0.5 * ||X - W H||_F^2 from ``<W H, X>`` and the two Gram matrices.

    ``||X - WH||^2 = ||X||^2 - 2 <X, WH> + <W^T W, H H^T>``: no m x n product.
    """
    value = sq_norm_X - 2.0 * cross + float(np.vdot(WtW.astype(np.float64),
                                                     HHt.astype(np.float64)))
    return max(value, 0.0) / 2.0


def frobenius_loss(sq_norm_X, XHt, W, WtW, HHt):
    """0.5 * ||X - W H||_F^2 from the product ``X @ H.T`` a W update has at hand.

    The same holds with the roles swapped: ``X.T @ W``, ``H.T``, and the
    Gram matrices in either order.
    """
    cross = float(np.vdot(XHt.astype(np.float64, copy=False), W.astype(np.float64, copy=False)))
    return frobenius_from_gram(sq_norm_X, cross, WtW, HHt)


def beta_divergence(data, W, Ht, beta):
    """Exact beta-divergence of X and W @ Ht.T (scikit-learn's convention).

    For beta == 2 it is ``0.5 * ||X - WH||_F^2``. Dense X and the general
    beta are computed over tiles of rows, so no m x n array is formed.
    """
    H = Ht.T
    if data.sparse and beta in (1.0, 2.0):
        wh = data.sampled_dot(W, Ht).astype(np.float64)
        x = data.X.data.astype(np.float64)
        if beta == 2:
            return frobenius_from_gram(data.sq_norm, float(x @ wh), gram64(W), gram64(Ht))
        keep = x > EPSILON
        x, wh = x[keep], np.maximum(wh[keep], EPSILON)
        sum_wh = float(W.sum(axis=0, dtype=np.float64) @ H.sum(axis=1, dtype=np.float64))
        return float(x @ np.log(x / wh)) - float(x.sum()) + sum_wh
    total = 0.0
    H = np.ascontiguousarray(H)
    for rows, X_tile in data.row_tiles():
        WH = kernels.dense_matmul(W[rows], H, n_threads=data.n_threads)
        if beta == 2:
            diff = (X_tile - WH).ravel()
            total += float(np.dot(diff, diff)) / 2.0
        else:
            total += kernels.beta_divergence_dense(X_tile, WH, beta, n_threads=data.n_threads)
    return total
