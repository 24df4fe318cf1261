"""The M-step: Gaussian parameters from sufficient statistics, and precision conversions.

The statistics are taken around a center close to the data (the data mean,
or each component's previous mean for 'full'), see
:func:`fastfactor.kernels.gmm_em_step`. The formulas are scikit-learn's,
rearranged so that no large, nearly equal numbers are subtracted; in exact
arithmetic they give the same values.
"""
import numpy as np
import scipy.linalg

_PRECISION_ERROR = (
    "Fitting the mixture model failed because some components have ill-defined "
    "empirical covariance (for instance caused by singleton or collapsed samples). "
    "Try to decrease the number of components, increase reg_covar, or scale the "
    "input data."
)


def _estimate_parameters(data, covariance_type, reg_covar, nk_raw, s1, s2, centers):
    """scikit-learn's ``_estimate_gaussian_parameters`` from sufficient statistics.

    ``nk_raw[k] = sum_i r_ik``, ``s1[k] = sum_i r_ik (x_i - centers[k])`` and the
    second moments ``s2`` around ``centers`` (see :func:`kernels.gmm_em_step`;
    for 'tied', ``s2`` is the matrix M described below). Returns ``nk`` (with
    scikit-learn's 10 * eps), means and covariances, in float64.

    Every covariance is built from ``scatter_k = sum_i r_ik (x_i - mu_k)(x_i -
    mu_k).T``, obtained from the centered sums as ``S - e s1.T - s1 e.T + R e
    e.T`` with ``e = mu_k - c_k``: no raw second moment E[x x.T] is ever
    formed, so tight clusters far from the origin keep their variances.
    (scikit-learn's ``resp.T @ X**2 / nk - mu**2`` also carries a spurious
    ``10 * eps * mu**2 / nk``, which is left out.)
    """
    d = data.X.shape[1]
    nk = nk_raw + data.nk_eps
    # means = resp.T @ X / nk
    means = (s1 + nk_raw[:, None] * centers) / nk[:, None]
    e = means - centers
    if covariance_type == "full":
        cross = e[:, :, None] * s1[:, None, :]
        scatter = (s2 - cross - cross.transpose(0, 2, 1)
                   + nk_raw[:, None, None] * e[:, :, None] * e[:, None, :])
        cov = scatter / nk[:, None, None]
        cov[:, np.arange(d), np.arange(d)] += reg_covar
    elif covariance_type == "tied":
        # scikit-learn: (X.T X - sum_k nk mu_k mu_k.T) / sum(nk), that is
        # (sum_k scatter_k + sum_i (1 - sum_k r_ik) x_i x_i.T) / sum(nk). Here
        # s2 = M = sum_k S_k + sum_i (1 - sum_k r_ik) x_i x_i.T, with S_k the
        # scatter of component k around c; when every row's responsibilities
        # sum to one (EM) M is just the data's scatter around c.
        cross = s1.T @ e
        scatter = s2 - cross - cross.T + (nk_raw[:, None] * e).T @ e
        cov = scatter / nk.sum()
        cov.flat[:: d + 1] += reg_covar
    else:
        if covariance_type == "diag":
            scatter = s2 - 2 * e * s1 + nk_raw[:, None] * e ** 2
            cov = np.maximum(scatter, 0) / nk[:, None]
        else:
            scatter = s2 - 2 * (e * s1).sum(axis=1) + nk_raw * (e ** 2).sum(axis=1)
            cov = np.maximum(scatter, 0) / (nk * d)
        cov = cov + reg_covar
    return nk, means, cov


def _precisions_cholesky(covariances, covariance_type, dtype):
    """Cholesky factors of the precisions (upper triangular), as scikit-learn's."""
    message = _PRECISION_ERROR
    if dtype == np.float32:
        message += (" The numerical accuracy can also be improved by passing float64"
                    " data instead of float32.")
    if covariance_type in ("full", "tied"):
        mats = covariances if covariance_type == "full" else covariances[None]
        out = np.empty_like(mats)
        eye = np.eye(mats.shape[-1])
        for k, cov in enumerate(mats):
            try:
                chol = scipy.linalg.cholesky(cov, lower=True)
            except np.linalg.LinAlgError:
                raise ValueError(message) from None
            out[k] = scipy.linalg.solve_triangular(chol, eye, lower=True).T
        return out if covariance_type == "full" else out[0]
    if np.any(covariances <= 0.0):
        raise ValueError(message)
    return 1.0 / np.sqrt(covariances)


def _precisions_cholesky_from_precisions(precisions, covariance_type):
    """``precisions = U U.T`` with U upper triangular (scikit-learn's convention)."""
    if covariance_type in ("full", "tied"):
        mats = precisions if covariance_type == "full" else precisions[None]
        out = np.stack([np.linalg.cholesky(P[::-1, ::-1])[::-1, ::-1] for P in mats])
        return out if covariance_type == "full" else out[0]
    return np.sqrt(precisions)


def _precisions_from_cholesky(prec_chol, covariance_type):
    if covariance_type == "full":
        return prec_chol @ prec_chol.transpose(0, 2, 1)
    if covariance_type == "tied":
        return prec_chol @ prec_chol.T
    return prec_chol ** 2


def _covariances_from_cholesky(prec_chol, covariance_type):
    """Covariances from precision Cholesky factors (for user-given precisions)."""
    if covariance_type in ("full", "tied"):
        mats = prec_chol if covariance_type == "full" else prec_chol[None]
        eye = np.eye(mats.shape[-1])
        out = np.empty_like(mats)
        for k, U in enumerate(mats):
            inv = scipy.linalg.solve_triangular(U, eye)  # U^-1; cov = U^-T U^-1
            out[k] = inv.T @ inv
        return out if covariance_type == "full" else out[0]
    return 1.0 / prec_chol ** 2

