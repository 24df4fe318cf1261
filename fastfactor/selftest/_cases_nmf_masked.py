"""Inputs for comparing each masked-NMF kernel with its numpy twin.

Same protocol as :mod:`fastfactor.selftest._cases_nmf`: each maker takes
(rng, m, n, k, dtype) and returns ``(args, kwargs)``. The observed
entries are a random ~70% of the matrix, with some observed zeros, and
every row keeps at least one observed entry.
"""
import numpy as np
import scipy.sparse as sp


def observed_csr(rng, m, n, dtype, density=0.7):
    """CSR of observed entries (explicit zeros included) and the missing pattern."""
    mask = rng.random((m, n)) < density
    mask[np.arange(m), rng.integers(0, n, size=m)] = True
    values = rng.random((m, n)).astype(dtype)
    values[rng.random((m, n)) < 0.15] = 0  # observed zeros must stay stored
    rows, cols = np.nonzero(mask)
    # built from (data, indices, indptr) so observed zeros stay stored
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))])
    X_obs = sp.csr_matrix((values[rows, cols], cols, indptr), shape=(m, n))
    mrows, mcols = np.nonzero(~mask)
    missing = sp.csr_matrix((np.ones(mrows.size, dtype=dtype), (mrows, mcols)),
                            shape=(m, n))
    return X_obs, missing


def masked_hals_update(rng, m, n, k, dtype):
    X_obs, missing = observed_csr(rng, m, n, dtype)
    W = rng.random((m, k)).astype(dtype)
    Ht = rng.random((n, k)).astype(dtype)
    perm = rng.permutation(k)
    # the complement route (missing=...) is exercised: the twin ignores it
    return (W, X_obs, Ht, perm), dict(max_inner=3, inner_tol=0.0, l1_reg=0.05, l2_reg=0.1,
                                      missing=missing)


def masked_mu_terms(rng, m, n, k, dtype):
    X_obs, _ = observed_csr(rng, m, n, dtype)
    W = rng.random((m, k)).astype(dtype)
    Ht = rng.random((n, k)).astype(dtype)
    return (X_obs, W, Ht, 0.5), {}


def masked_beta_divergence(rng, m, n, k, dtype):
    X_obs, _ = observed_csr(rng, m, n, dtype)
    W = rng.random((m, k)).astype(dtype)
    Ht = rng.random((n, k)).astype(dtype)
    return (X_obs, W, Ht, 1.5), {}


CASES = {
    "masked_hals_update": masked_hals_update,
    "masked_mu_terms": masked_mu_terms,
    "masked_beta_divergence": masked_beta_divergence,
}
