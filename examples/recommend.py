"""Recommendation with masked NMF: predict held-out ratings of a synthetic ratings matrix.

Users rate items on a 1..5 scale; their tastes are a non-negative mix of a
few latent factors. Only a fraction of the ratings is known (the others are
NaN); a part of the known ones is held out. Masked NMF fits the known
ratings only (NaN = missing), and ``W @ H`` predicts the held-out ones.
Compared with the per-user mean rating (the row-mean baseline) and the
per-item mean, in RMSE.

Run: ``python examples/recommend.py [--quick]``
"""
import sys
import time

import numpy as np

import fastfactor as ff


def make_ratings(rng, n_users, n_items, rank=5, noise=0.3):
    """A complete n_users x n_items matrix of 1..5 ratings with low-rank structure."""
    tastes = rng.gamma(0.6, size=(n_users, rank))
    profiles = rng.gamma(0.6, size=(rank, n_items))
    affinity = tastes @ profiles
    affinity /= np.quantile(affinity, 0.95)
    ratings = 1.0 + 4.0 * np.clip(affinity, 0, 1) + noise * rng.standard_normal(affinity.shape)
    return np.clip(ratings, 1.0, 5.0)


def split_ratings(rng, R, observed=0.1, held_out=0.2):
    """Keep a fraction ``observed`` of R; hold out ``held_out`` of those.

    Returns the training matrix (NaN where unknown or held out) and the
    boolean mask of held-out entries. Every user and item keeps at least
    one training rating.
    """
    m, n = R.shape
    known = rng.random((m, n)) < observed
    test = known & (rng.random((m, n)) < held_out)
    train = known & ~test
    # guarantee one training rating per user and per item
    rows, cols = np.arange(m), rng.integers(0, n, m)
    train[rows, cols], test[rows, cols] = True, False
    rows, cols = rng.integers(0, m, n), np.arange(n)
    train[rows, cols], test[rows, cols] = True, False
    return np.where(train, R, np.nan), test


def rmse(pred, R, mask):
    """Root-mean-square error of ``pred`` against R on ``mask``."""
    return float(np.sqrt(np.mean((np.clip(pred[mask], 1, 5) - R[mask]) ** 2)))


def main(quick=False):
    rng = np.random.default_rng(0)
    m, n = (600, 400) if quick else (3000, 1500)
    R = make_ratings(rng, m, n, rank=5)
    train, test = split_ratings(rng, R, observed=0.1, held_out=0.2)
    print(f"{m} users x {n} items, {np.isfinite(train).mean():.1%} of the ratings known "
          f"for training, {test.sum()} held out")
    row_mean = np.nanmean(train, axis=1, keepdims=True) * np.ones_like(R)
    col_mean = np.nanmean(train, axis=0, keepdims=True) * np.ones_like(R)
    print(f"{'row-mean baseline':28s} RMSE {rmse(row_mean, R, test):.4f}")
    print(f"{'item-mean baseline':28s} RMSE {rmse(col_mean, R, test):.4f}")
    for solver, beta in [("cd", "frobenius"), ("mu", "frobenius"), ("mu", "kullback-leibler")]:
        model = ff.NMF(5, solver=solver, beta_loss=beta, init="random", random_state=0,
                       max_iter=300, tol=1e-5, alpha_W=1e-3)
        start = time.perf_counter()
        W = model.fit_transform(train)
        seconds = time.perf_counter() - start
        pred = W @ model.components_
        print(f"masked NMF {solver:2s} {beta:17s} RMSE {rmse(pred, R, test):.4f}   "
              f"({model.n_iter_} it., {seconds:.2f} s)")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
