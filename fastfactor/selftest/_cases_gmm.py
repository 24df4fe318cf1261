"""Inputs for comparing each Gaussian-mixture kernel with its numpy twin.

Each case maker takes (rng, m, n, k, dtype): m samples, n features and k
components, and returns ``(args, kwargs)`` for both
``fastfactor.kernels.<name>`` and ``fastfactor.reference.<name>``. A case
named ``"kernel:variant"`` calls ``kernel``; the variant is the covariance
type (or the output) it exercises.
"""
import numpy as np

from ..kernels import COVARIANCE_TYPES


def random_precisions_cholesky(rng, covariance_type, k, n):
    """Cholesky factors of random well-conditioned precisions (float64)."""
    def upper():
        U = np.triu(rng.normal(scale=0.2, size=(n, n)), 1)
        return U + np.diag(rng.uniform(0.6, 1.4, size=n))

    if covariance_type == "full":
        return np.stack([upper() for _ in range(k)])
    if covariance_type == "tied":
        return upper()
    if covariance_type == "diag":
        return rng.uniform(0.6, 1.4, size=(k, n))
    return rng.uniform(0.6, 1.4, size=k)


def mixture_problem(rng, m, n, k, dtype, covariance_type):
    """Data from k overlapping blobs, off the origin, and model parameters."""
    offset = rng.normal(scale=3.0, size=n)
    means = offset + rng.normal(scale=1.5, size=(k, n))
    X = means[rng.integers(k, size=m)] + rng.normal(size=(m, n))
    weights = rng.dirichlet(np.ones(k) * 2.0)
    prec = random_precisions_cholesky(rng, covariance_type, k, n)
    # near the data but not its exact mean, so that s1 is not ~0 by construction
    center = X.mean(axis=0) + rng.normal(scale=0.5, size=n)
    return X.astype(dtype), weights, means.astype(dtype), prec, center


def _em_step(covariance_type):
    def make(rng, m, n, k, dtype):
        X, w, means, prec, center = mixture_problem(rng, m, n, k, dtype, covariance_type)
        return (X, w, means, prec, covariance_type), dict(center=center)
    return make


def _estimate(covariance_type, output):
    def make(rng, m, n, k, dtype):
        X, w, means, prec, center = mixture_problem(rng, m, n, k, dtype, covariance_type)
        return (X, w, means, prec, covariance_type), dict(output=output, center=center)
    return make


def _resp_stats(covariance_type):
    def make(rng, m, n, k, dtype):
        X, _, _, _, center = mixture_problem(rng, m, n, k, dtype, covariance_type)
        resp = rng.random((m, k))
        resp[rng.random((m, k)) < 0.3] = 0.0  # exact zeros are skipped by 'full'
        resp /= np.maximum(resp.sum(axis=1, keepdims=True), 1e-12)
        return (X, resp.astype(dtype), covariance_type), dict(center=center)
    return make


CASES = {}
for _cov in COVARIANCE_TYPES:
    CASES[f"gmm_em_step:{_cov}"] = _em_step(_cov)
    CASES[f"gmm_resp_stats:{_cov}"] = _resp_stats(_cov)
CASES["gmm_estimate:full-proba"] = _estimate("full", "proba")
CASES["gmm_estimate:tied-labels"] = _estimate("tied", "labels")
CASES["gmm_estimate:diag-score"] = _estimate("diag", "score")
CASES["gmm_estimate:spherical-proba"] = _estimate("spherical", "proba")


def _kmeans_plusplus(rng, m, n, k, dtype):
    X, *_ = mixture_problem(rng, m, n, k, dtype, "diag")
    return (X, min(k, m)), dict(random_state=int(rng.integers(1 << 31)))


def _kmeans_lloyd(rng, m, n, k, dtype):
    X, _, means, *_ = mixture_problem(rng, m, n, k, dtype, "diag")
    # start from rows of X, with two centers equal (an empty cluster) when k > 1
    init = X[rng.choice(m, size=k, replace=m < k)].astype(np.float64)
    if k > 1:
        init[-1] = init[0]
    return (X, init), dict(max_iter=50)


CASES["kmeans_plusplus"] = _kmeans_plusplus
CASES["kmeans_lloyd"] = _kmeans_lloyd
