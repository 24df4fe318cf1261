"""Inputs for comparing each NMF kernel with its numpy twin.

Each case maker takes (rng, m, n, k, dtype) and returns ``(args, kwargs)``
for both ``fastfactor.kernels.<name>`` and ``fastfactor.reference.<name>``.
Arrays a kernel updates in place are compared after the call as well as
the return values.
"""
import numpy as np
import scipy.sparse as sp


def _nonneg(rng, shape, dtype):
    return rng.random(shape).astype(dtype)


def hals_update(rng, m, n, k, dtype):
    W = _nonneg(rng, (m, k), dtype)
    H = _nonneg(rng, (k, n), dtype)
    X = _nonneg(rng, (m, n), dtype)
    XHt = (X @ H.T).astype(dtype)
    HHt = (H @ H.T).astype(dtype)
    perm = rng.permutation(k)
    # a fixed sweep count keeps float32 rounding from changing when rows stop
    return (W, XHt, HHt, perm), dict(max_inner=3, inner_tol=0.0)


def mu_update(rng, m, n, k, dtype):
    W = _nonneg(rng, (m, k), dtype)
    num = _nonneg(rng, (m, k), dtype)
    den = _nonneg(rng, (m, k), dtype) + dtype(0.1)
    return (W, num, den), dict(l1_reg=0.1, l2_reg=0.2, gamma=0.7, zero_below=1e-3)


def mu_beta_terms(rng, m, n, k, dtype):
    X = _nonneg(rng, (m, n), dtype)
    WH = _nonneg(rng, (m, n), dtype) + dtype(0.05)
    return (X, WH, 0.5), dict(want_pow=True)


def mu_beta_products(rng, m, n, k, dtype):
    X = _nonneg(rng, (m, n), dtype)
    W = _nonneg(rng, (m, k), dtype) + dtype(0.05)
    Ht = _nonneg(rng, (n, k), dtype) + dtype(0.05)
    # three rows per tile on small shapes: several tiles and threads even there
    tile_rows = 3 if m * n < 100_000 else None
    return (X, W, Ht, 1.5), dict(for_H=bool(rng.integers(2)), tile_rows=tile_rows)


def dense_matmul(rng, m, n, k, dtype):
    trans_a = bool(rng.integers(2))
    A = _nonneg(rng, (n, m) if trans_a else (m, n), dtype)
    return (A, _nonneg(rng, (n, k), dtype)), dict(trans_a=trans_a)


def beta_divergence_dense(rng, m, n, k, dtype):
    X = _nonneg(rng, (m, n), dtype)
    X[X < 0.2] = 0  # exercise the X <= eps branch
    WH = _nonneg(rng, (m, n), dtype) + dtype(0.05)
    return (X, WH, 1.5), {}


def _sparse(rng, m, n, dtype):
    A = sp.random(m, n, density=0.3, format="csr", random_state=rng.integers(1 << 31),
                  dtype=np.float64)
    return A.astype(dtype)


def sampled_dot(rng, m, n, k, dtype):
    return (_sparse(rng, m, n, dtype), _nonneg(rng, (m, k), dtype),
            _nonneg(rng, (n, k), dtype)), {}


def csr_matmul(rng, m, n, k, dtype):
    return (_sparse(rng, m, n, dtype), _nonneg(rng, (n, k), dtype)), {}


CASES = {
    "hals_update": hals_update,
    "mu_update": mu_update,
    "mu_beta_terms": mu_beta_terms,
    "mu_beta_products": mu_beta_products,
    "dense_matmul": dense_matmul,
    "beta_divergence_dense": beta_divergence_dense,
    "sampled_dot": sampled_dot,
    "csr_matmul": csr_matmul,
}
