"""Inputs for comparing each sparse-coding kernel with its numpy twin.

Each case maker takes (rng, m, n, k, dtype): m signals of n features coded
on k atoms, and returns ``(args, kwargs)`` for both
``fastfactor.kernels.<name>`` and ``fastfactor.reference.<name>``.
"""
import numpy as np


def _problem(rng, m, n, k, dtype):
    """Unit-norm dictionary (k, n), signals (m, n) made of a few atoms plus noise."""
    D = rng.normal(size=(k, n))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    codes = rng.normal(size=(m, k)) * (rng.random((m, k)) < 0.4)
    X = codes @ D + 0.05 * rng.normal(size=(m, n))
    D, X = D.astype(dtype), X.astype(dtype)
    gram = D @ D.T
    xd = X @ D.T
    x_sqnorms = (X.astype(np.float64) ** 2).sum(axis=1)
    return D, X, gram, xd, x_sqnorms


def soft_threshold(rng, m, n, k, dtype):
    Z = rng.normal(size=(m, k)).astype(dtype)
    return (Z, rng.random(k) * 0.8), dict(positive=False)


def soft_threshold_grad(rng, m, n, k, dtype):
    Z = rng.normal(size=(m, k)).astype(dtype)
    grad_out = rng.normal(size=(m, k)).astype(dtype)
    return (Z, grad_out, rng.random(k) * 0.8), dict(positive=True)


def lasso_cd_gram(rng, m, n, k, dtype):
    _, _, gram, xd, x_sqnorms = _problem(rng, m, n, k, dtype)
    alpha = 0.2 * float(np.abs(xd).max())
    code = (0.1 * rng.normal(size=(m, k))).astype(dtype)   # a warm start
    # a tight tolerance: both must land on the (unique) minimiser
    return (code, gram, xd, x_sqnorms, alpha), dict(max_iter=10000, tol=1e-14)


def omp_gram(rng, m, n, k, dtype):
    _, _, gram, xd, _ = _problem(rng, m, n, k, dtype)
    return (gram, xd, min(k, 3)), {}


def fista_step(rng, m, n, k, dtype):
    _, _, gram, xd, _ = _problem(rng, m, n, k, dtype)
    code = (0.1 * rng.normal(size=(m, k))).astype(dtype)
    momentum = (code + 0.05 * rng.normal(size=(m, k))).astype(dtype)
    grad = (momentum @ gram - xd).astype(dtype)
    t = 1.0 + 3 * rng.random(m)
    step = 1.0 / float(np.linalg.eigvalsh(gram.astype(np.float64))[-1])
    return (code, momentum, grad, t, step, 0.05), dict(positive=False)


CASES = {
    "soft_threshold": soft_threshold,
    "soft_threshold_grad": soft_threshold_grad,
    "lasso_cd_gram": lasso_cd_gram,
    "omp_gram": omp_gram,
    "fista_step": fista_step,
}
