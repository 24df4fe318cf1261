"""The M-step: Gaussian parameters from sufficient statistics, and precision conversions.

The statistics are taken around a center close to the data (the data mean,
or each component's previous mean for 'full'), see
:func:`fastfactor.kernels.gmm_em_step`. The formulas are scikit-learn's,
rearranged so that no large, nearly equal numbers are subtracted; in exact
arithmetic they give the same values.
"""
import numpy as np
import scipy.linalg

from .. import kernels
from ._data import GMMData

_PRECISION_ERROR = (
    "Fitting the mixture model failed because some components have ill-defined "
    "empirical covariance (for instance caused by singleton or collapsed samples). "
    "Try to decrease the number of components, increase reg_covar, or scale the "
    "input data."
)
# scikit-learn's 10 * eps in nk, at float64's eps (see _estimate_parameters)
_NK_EPS = 10 * np.finfo(np.float64).eps


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

    scikit-learn's 'diag' and 'spherical' formula (``resp.T @ X**2 / nk -
    mu**2``) also carries ``10 * eps * mu**2 / nk`` (from the eps it adds to
    ``nk``). That term is added here too: with ``reg_covar=0`` it is all that
    keeps the variance of a component holding a single point positive, so
    fits scikit-learn completes complete here. It is taken with float64's eps
    for every dtype (float32's would add a bias of 1e-6 * mu**2 / nk, larger
    than tight clusters' variances). 'tied' carries ``10 * eps * sum_k mu_k
    mu_k.T`` likewise; that one is left out: it spans only the means and
    matters only where the scatter itself is singular, which it would let
    through Cholesky by rounding where scikit-learn raises.
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
            cov = (np.maximum(scatter, 0) + _NK_EPS * means ** 2) / nk[:, None]
        else:
            scatter = s2 - 2 * (e * s1).sum(axis=1) + nk_raw * (e ** 2).sum(axis=1)
            cov = (np.maximum(scatter, 0) + _NK_EPS * (means ** 2).sum(axis=1)) / (nk * d)
        cov = cov + reg_covar
    return nk, means, cov


def estimate_gaussian_parameters(X, resp, reg_covar, covariance_type, n_threads=None):
    """scikit-learn's ``_estimate_gaussian_parameters``: the M-step for given responsibilities.

    For the step-by-step EM (:meth:`GaussianMixture._m_step`,
    :meth:`GaussianMixture._initialize`); the fused EM never forms ``resp``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    resp : ndarray of shape (n_samples, n_components)
        Rows need not sum to one (one-hot initial responsibilities leave
        most rows at zero), as in scikit-learn.
    reg_covar : float
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_threads : int, optional

    Returns
    -------
    nk : ndarray of shape (n_components,)
        ``resp.sum(axis=0)`` plus scikit-learn's 10 * eps.
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        Shaped as ``covariances_``. All three are float64.
    """
    data = GMMData(X, covariance_type, n_threads)
    nk_raw, s1, s2 = kernels.gmm_resp_stats(X, resp, covariance_type, center=data.center,
                                            n_threads=n_threads)
    if covariance_type == "tied":
        # M = sum_i rho_i (x_i - c)(x_i - c).T + sum_i (1 - rho_i) x_i x_i.T with
        # rho_i the row sums: the data's scatter plus v c.T + c v.T - D c c.T,
        # v = sum_i (1 - rho_i) x_i and D = sum_i (1 - rho_i)
        lack = 1.0 - resp.sum(axis=1, dtype=np.float64)
        v, c = lack @ X, data.center
        s2 = data.scatter + np.outer(v, c) + np.outer(c, v) - lack.sum() * np.outer(c, c)
    centers = np.broadcast_to(data.center, s1.shape)
    return _estimate_parameters(data, covariance_type, reg_covar, nk_raw, s1, s2, centers)


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

