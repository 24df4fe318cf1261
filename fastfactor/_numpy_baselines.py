"""Straightforward vectorised-numpy NMF solvers, the baseline of demo and bench.

These are what a careful numpy user would write: the same BLAS products as
fastfactor, with the per-entry work in numpy expressions. They are not the
kernel twins of :mod:`fastfactor.reference` (which are written for clarity);
they are the fair speed baseline.
"""
import numpy as np

EPSILON = np.finfo(np.float32).eps


def frobenius_loss(X, W, H):
    """0.5 * ||X - W H||_F^2 for dense X."""
    R = X - W @ H
    return 0.5 * float(np.vdot(R, R))


def nmf_hals(X, W, H, n_iter):
    """Plain HALS (one sweep per factor per iteration), column at a time.

    Returns the factors and the loss after each iteration.
    """
    W, H = W.copy(), H.copy()
    sq_norm = float(np.vdot(X, X))
    losses = []
    for _ in range(n_iter):
        XHt, HHt = X @ H.T, H @ H.T
        for t in range(W.shape[1]):
            if HHt[t, t] > 0:
                W[:, t] = np.maximum(W[:, t] + (XHt[:, t] - W @ HHt[:, t]) / HHt[t, t], 0)
        WtX, WtW = W.T @ X, W.T @ W
        for t in range(H.shape[0]):
            if WtW[t, t] > 0:
                H[t] = np.maximum(H[t] + (WtX[t] - WtW[t] @ H) / WtW[t, t], 0)
        HHt = H @ H.T
        losses.append(0.5 * max(sq_norm - 2 * float(np.vdot(WtX, H))
                                + float(np.vdot(WtW, HHt)), 0.0))
    return W, H, losses


def nmf_mu_kl(X, W, H, n_iter):
    """Multiplicative updates for the generalised Kullback-Leibler divergence."""
    W, H = W.copy(), H.copy()
    for _ in range(n_iter):
        W *= ((X / np.maximum(W @ H, EPSILON)) @ H.T) / H.sum(axis=1)
        H *= (W.T @ (X / np.maximum(W @ H, EPSILON))) / W.sum(axis=0)[:, None]
    return W, H
