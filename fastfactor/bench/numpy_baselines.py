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


def gmm_em_diag(X, weights, means, variances, n_iter, reg_covar=1e-6):
    """EM for a diagonal-covariance Gaussian mixture, vectorised numpy (n x K arrays).

    Returns the parameters and the mean log-likelihood of the last E-step.
    """
    n, d = X.shape
    X2 = X * X
    for _ in range(n_iter):
        prec = 1.0 / variances
        log_prob = (-0.5 * (d * np.log(2 * np.pi) + np.sum(np.log(variances), axis=1))
                    - 0.5 * (X2 @ prec.T - 2 * X @ (means * prec).T
                             + np.sum(means ** 2 * prec, axis=1)))
        log_w = log_prob + np.log(weights)
        top = log_w.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(log_w - top).sum(axis=1))
        resp = np.exp(log_w - lse[:, None])
        nk = resp.sum(axis=0) + 10 * np.finfo(X.dtype).eps
        means = resp.T @ X / nk[:, None]
        variances = resp.T @ X2 / nk[:, None] - means ** 2 + reg_covar
        weights = nk / n
    return weights, means, variances, float(lse.mean())


def lasso_fista(Y, D, alpha, n_iter):
    """FISTA for min_c 0.5 ||y - c D||^2 + alpha ||c||_1, all signals at once."""
    G = D @ D.T
    L = np.linalg.eigvalsh(G)[-1]
    YD = Y @ D.T
    C = np.zeros((Y.shape[0], D.shape[0]))
    Z, t = C.copy(), 1.0
    for _ in range(n_iter):
        step = Z - (Z @ G - YD) / L
        C_new = np.sign(step) * np.maximum(np.abs(step) - alpha / L, 0)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        Z = C_new + (t - 1) / t_new * (C_new - C)
        C, t = C_new, t_new
    return C
