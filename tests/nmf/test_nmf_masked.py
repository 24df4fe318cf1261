"""Masked NMF: NaN / mask= marks missing entries; the loss counts observed entries only."""
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

import fastfactor as ff
from fastfactor import kernels, reference
from fastfactor.selftest._cases_nmf_masked import observed_csr
from conftest import low_rank_nonneg


pytestmark = pytest.mark.filterwarnings("ignore::fastfactor.exceptions.ConvergenceWarning")


def _with_holes(rng, X, fraction=0.3):
    """X with a random fraction set to NaN, every row and column keeping an entry."""
    Xn = X.copy()
    holes = rng.random(X.shape) < fraction
    holes[np.arange(X.shape[0]), rng.integers(0, X.shape[1], X.shape[0])] = False
    holes[rng.integers(0, X.shape[0], X.shape[1]), np.arange(X.shape[1])] = False
    Xn[holes] = np.nan
    return Xn


# ------------------------------------------------------------------- kernels

@pytest.mark.parametrize("beta", [2.0, 1.0, 0.0, 0.5, 1.5, 3.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_mu_terms_and_divergence_match_twins_for_every_beta(beta, dtype):
    rng = np.random.default_rng(3)
    X_obs, _ = observed_csr(rng, 30, 20, dtype)
    if beta <= 0:
        X_obs.data += dtype(0.1)  # undefined at observed zeros
    W = rng.random((30, 4)).astype(dtype)
    Ht = rng.random((20, 4)).astype(dtype)
    W[0] = 0  # wh = 0: the epsilon floors
    num, den = kernels.masked_mu_terms(X_obs, W, Ht, beta)
    num_r, den_r = reference.masked_mu_terms(X_obs, W, Ht, beta)
    rtol = 2e-5 if dtype == np.float32 else 1e-10
    assert num.dtype == dtype and den.dtype == dtype
    np.testing.assert_allclose(num, num_r, rtol=rtol, atol=rtol * np.abs(num_r).max())
    np.testing.assert_allclose(den, den_r, rtol=rtol, atol=rtol * np.abs(den_r).max())
    div = kernels.masked_beta_divergence(X_obs, W, Ht, beta)
    assert div == pytest.approx(reference.masked_beta_divergence(X_obs, W, Ht, beta),
                                rel=1e-4 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("beta", [2.0, 1.0, 0.5])
def test_fully_observed_terms_equal_the_plain_ones(beta, rng):
    X = low_rank_nonneg(rng, 25, 18, 3)
    W, Ht = rng.random((25, 3)), rng.random((18, 3))
    X_obs = sp.csr_matrix(X)
    num, den = kernels.masked_mu_terms(X_obs, W, Ht, beta)
    WH = W @ Ht.T
    np.testing.assert_allclose(num, (X * WH ** (beta - 2)) @ Ht, rtol=1e-10)
    np.testing.assert_allclose(den, WH ** (beta - 1) @ Ht, rtol=1e-10)
    if beta != 2:
        assert kernels.masked_beta_divergence(X_obs, W, Ht, beta) == pytest.approx(
            kernels.beta_divergence_dense(X, WH, beta), rel=1e-10)


def test_hals_complement_route_equals_direct_gram(rng):
    # rows missing few entries build G = HHt - missing outer products
    X_obs, missing = observed_csr(rng, 40, 30, np.float64, density=0.9)
    W0 = rng.random((40, 5))
    Ht = rng.random((30, 5))
    W1, W2 = W0.copy(), W0.copy()
    v1 = kernels.masked_hals_update(W1, X_obs, Ht, max_inner=4)
    v2 = kernels.masked_hals_update(W2, X_obs, Ht, max_inner=4, missing=missing)
    np.testing.assert_allclose(W1, W2, rtol=1e-10, atol=1e-12)
    assert v1 == pytest.approx(v2, rel=1e-10)


def test_masked_hals_with_everything_observed_is_plain_hals(rng):
    X = low_rank_nonneg(rng, 30, 20, 4)
    W0, Ht = rng.random((30, 4)), rng.random((20, 4))
    W1, W2 = W0.copy(), W0.copy()
    kernels.masked_hals_update(W1, sp.csr_matrix(X), Ht, max_inner=2, l1_reg=0.1, l2_reg=0.2)
    HHt = Ht.T @ Ht + 0.2 * np.eye(4)
    kernels.hals_update(W2, X @ Ht - 0.1, HHt, max_inner=2)
    np.testing.assert_allclose(W1, W2, rtol=1e-10, atol=1e-12)


def test_masked_kernel_observed_zeros_count(rng):
    # an explicit zero is an observed zero: it pulls the prediction down
    X_obs = sp.csr_matrix((np.array([0.0, 1.0]), np.array([0, 1]), np.array([0, 2])),
                          shape=(1, 2))
    assert X_obs.nnz == 2
    Ht = np.array([[1.0], [1.0]])
    W = np.array([[5.0]])
    kernels.masked_hals_update(W, X_obs, Ht)
    assert W[0, 0] == pytest.approx(0.5)


def test_masked_kernel_shape_errors():
    X_obs = sp.csr_matrix(np.ones((4, 3)))
    with pytest.raises(ValueError, match="Ht has shape"):
        kernels.masked_mu_terms(X_obs, np.ones((4, 2)), np.ones((5, 2)), 2.0)
    with pytest.raises(ValueError, match="W has shape"):
        kernels.masked_beta_divergence(X_obs, np.ones((3, 2)), np.ones((3, 2)), 2.0)
    with pytest.raises(ValueError, match="missing has shape"):
        kernels.masked_hals_update(np.ones((4, 2)), X_obs, np.ones((3, 2)),
                                   missing=sp.csr_matrix((4, 4)))


# ------------------------------------------------ solvers vs a numpy masked NMF

def _numpy_masked_mu(X, M, W, H, beta, n_iter):
    """Textbook masked multiplicative updates (Frobenius or KL), dense numpy."""
    Xz = np.where(M, X, 0.0)
    eps = np.finfo(np.float32).eps
    for _ in range(n_iter):
        WH = W @ H
        if beta == 2:
            W = W * (Xz @ H.T) / (np.where(M, WH, 0) @ H.T)
        else:
            W = W * (np.where(M, Xz / np.maximum(WH, eps), 0) @ H.T) / (M @ H.T)
        WH = W @ H
        if beta == 2:
            H = H * (W.T @ Xz) / (W.T @ np.where(M, WH, 0))
        else:
            H = H * (W.T @ np.where(M, Xz / np.maximum(WH, eps), 0)) / (W.T @ M)
    return W, H


def _numpy_masked_hals(X, M, W, H, n_iter):
    """Masked HALS with one sweep per row: each row solves its own small QP."""
    W, Ht = W.copy(), H.T.copy()
    for _ in range(n_iter):
        for A, B, Xa, Ma in ((W, Ht, X, M), (Ht, W, X.T, M.T)):
            for i in range(A.shape[0]):
                obs = Ma[i]
                G = B[obs].T @ B[obs]
                b = Xa[i, obs] @ B[obs]
                for t in range(A.shape[1]):
                    if G[t, t] > 0:
                        A[i, t] = max(0.0, A[i, t] - (G[t] @ A[i] - b[t]) / G[t, t])
    return W, Ht.T


@pytest.mark.parametrize("solver,beta", [("cd", 2.0), ("mu", 2.0), ("mu", 1.0)])
def test_masked_fit_matches_numpy_masked_nmf(solver, beta, rng):
    X = low_rank_nonneg(rng, 30, 22, 3)
    Xn = _with_holes(rng, X)
    M = ~np.isnan(Xn)
    W0, H0 = rng.random((30, 3)), rng.random((3, 22))
    extra = {"max_inner_iter": 1} if solver == "cd" else {}
    model = ff.NMF(3, init="custom", solver=solver, beta_loss=beta, max_iter=15, tol=0,
                   **extra)
    W = model.fit_transform(Xn, W=W0.copy(), H=H0.copy())
    if solver == "cd":
        W_ref, H_ref = _numpy_masked_hals(np.nan_to_num(Xn), M, W0, H0, 15)
    else:
        W_ref, H_ref = _numpy_masked_mu(np.nan_to_num(Xn), M, W0, H0, beta, 15)
    np.testing.assert_allclose(W, W_ref, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(model.components_, H_ref, rtol=1e-8, atol=1e-12)
    P = W @ model.components_
    if beta == 2:
        expected = np.sqrt(np.sum((Xn[M] - P[M]) ** 2))
        assert model.reconstruction_err_ == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("solver,beta", [("cd", 2.0), ("mu", 2.0), ("mu", 1.0), ("mu", 0.5)])
def test_all_true_mask_equals_plain_nmf(solver, beta, rng):
    X = low_rank_nonneg(rng, 35, 25, 4)
    W0, H0 = rng.random((35, 3)), rng.random((3, 25))
    extra = {"max_inner_iter": 1} if solver == "cd" else {}
    kw = dict(n_components=3, init="custom", solver=solver, beta_loss=beta, max_iter=25,
              tol=0, alpha_W=0.01, l1_ratio=0.5, **extra)
    plain = ff.NMF(**kw)
    W_plain = plain.fit_transform(X, W=W0.copy(), H=H0.copy())
    masked = ff.NMF(**kw)
    W_masked = masked.fit_transform(X, W=W0.copy(), H=H0.copy(),
                                    mask=np.ones(X.shape, dtype=bool))
    np.testing.assert_allclose(W_masked, W_plain, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(masked.components_, plain.components_, rtol=1e-7, atol=1e-10)
    assert masked.reconstruction_err_ == pytest.approx(plain.reconstruction_err_, rel=1e-8)


def test_default_init_without_missing_entries_matches_plain(rng):
    X = low_rank_nonneg(rng, 40, 30, 4)
    plain = ff.NMF(4, max_iter=20, max_inner_iter=1, random_state=0).fit(X)
    masked = ff.NMF(4, max_iter=20, max_inner_iter=1, random_state=0).fit(
        X, mask=np.ones(X.shape, dtype=bool))
    np.testing.assert_allclose(masked.components_, plain.components_, rtol=1e-7, atol=1e-10)


def test_sparse_with_mask_equals_dense_with_nan(rng):
    X = low_rank_nonneg(rng, 30, 20, 3)
    X[X < 0.8] = 0
    M = rng.random(X.shape) < 0.6
    M[np.arange(30), rng.integers(0, 20, 30)] = True
    M[rng.integers(0, 30, 20), np.arange(20)] = True
    Xn = np.where(M, X, np.nan)
    W0, H0 = rng.random((30, 3)), rng.random((3, 20))
    kw = dict(n_components=3, init="custom", max_iter=20, tol=0)
    dense = ff.NMF(**kw).fit(Xn, W=W0.copy(), H=H0.copy())
    for mask in (M, sp.csr_matrix(M), sp.coo_array(M)):
        sparse = ff.NMF(**kw).fit(sp.csr_matrix(X), W=W0.copy(), H=H0.copy(), mask=mask)
        np.testing.assert_allclose(sparse.components_, dense.components_, rtol=1e-10)
    # values stored where the mask says missing are ignored
    noisy = sp.csr_matrix(np.where(M, X, 7.0))
    other = ff.NMF(**kw).fit(noisy, W=W0.copy(), H=H0.copy(), mask=M)
    np.testing.assert_allclose(other.components_, dense.components_, rtol=1e-10)


def test_transform_on_rows_with_missing_entries(rng):
    X = low_rank_nonneg(rng, 60, 30, 3, noise=0.0)
    model = ff.NMF(3, max_iter=300, tol=1e-8, random_state=0).fit(X)
    new = X[:10].copy()
    new[:, :12] = np.nan  # each row keeps 18 of 30 entries
    W = model.transform(new)
    assert W.shape == (10, 3) and np.isfinite(W).all()
    # the observed entries determine the codes: predictions fill the holes
    pred = W @ model.components_
    assert np.abs(pred[:, :12] - X[:10, :12]).max() < 0.05 * X.max()
    # each code is the non-negative least-squares fit of the row's observed entries
    from scipy.optimize import nnls

    W = model.set_params(max_iter=2000, tol=1e-12).transform(new)
    for i in range(10):
        w_ref, _ = nnls(model.components_[:, 12:].T, new[i, 12:])
        np.testing.assert_allclose(W[i], w_ref, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_masked_cd_loss_decreases_and_threads_agree(solver, rng, monkeypatch):
    # small fits run on one thread; lift that so two threads really run
    monkeypatch.setattr("fastfactor.nmf._masked.MIN_WORK_PER_THREAD", 0)
    X = _with_holes(rng, low_rank_nonneg(rng, 80, 50, 5), 0.4)
    a = ff.NMF(4, solver=solver, init="random", random_state=1, max_iter=40, tol=1e-9,
               n_threads=2).fit(X)
    b = ff.NMF(4, solver=solver, init="random", random_state=1, max_iter=40, tol=1e-9,
               n_threads=2).fit(X)
    assert np.array_equal(a.components_, b.components_)
    c = ff.NMF(4, solver=solver, init="random", random_state=1, max_iter=40, tol=1e-9,
               n_threads=1).fit(X)
    np.testing.assert_allclose(c.components_, a.components_, rtol=1e-8, atol=1e-11)
    losses = np.array(a.loss_history_)
    assert losses.size >= 3 and np.all(np.diff(losses) <= 1e-9 * losses[0])


def test_float32_kept_and_pickle(rng):
    X = _with_holes(rng, low_rank_nonneg(rng, 30, 20, 3, dtype=np.float32))
    model = ff.NMF(3, max_iter=30).fit(X)
    assert model.components_.dtype == np.float32
    assert model.transform(X).dtype == np.float32
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.transform(X), model.transform(X))


# ------------------------------------------------------------- recommendation

def _load_example(name):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_masked_nmf_beats_row_mean_baseline_on_held_out_ratings():
    rng = np.random.default_rng(0)
    recommend = _load_example("recommend")
    make_ratings, split_ratings, rmse = (recommend.make_ratings, recommend.split_ratings,
                                         recommend.rmse)

    R = make_ratings(rng, 150, 100, rank=4)
    train, test_mask = split_ratings(rng, R, observed=0.3, held_out=0.2)
    model = ff.NMF(4, init="random", random_state=0, max_iter=300, tol=1e-6, alpha_W=1e-3)
    W = model.fit_transform(train)
    pred = W @ model.components_
    baseline = np.where(np.isnan(train), np.nan, train)
    row_mean = np.nanmean(baseline, axis=1, keepdims=True) * np.ones_like(R)
    nmf_rmse = rmse(pred, R, test_mask)
    base_rmse = rmse(row_mean, R, test_mask)
    assert nmf_rmse < 0.8 * base_rmse, (nmf_rmse, base_rmse)


# ----------------------------------------------------------------- bad input

def test_row_or_column_without_observed_entries(rng):
    X = low_rank_nonneg(rng, 10, 6, 2)
    X[3] = np.nan
    with pytest.raises(ValueError, match=r"X has 1 row\(s\) with no observed entry.*row index 3"):
        ff.NMF(2).fit(X)
    X = low_rank_nonneg(rng, 10, 6, 2)
    X[:, 4] = np.nan
    with pytest.raises(ValueError, match=r"column\(s\) with no observed.*column index 4"):
        ff.NMF(2).fit(X)
    M = np.ones((10, 6), dtype=bool)
    M[:, 0] = False
    with pytest.raises(ValueError, match="column index 0"):
        ff.NMF(2).fit(sp.csr_matrix(low_rank_nonneg(rng, 10, 6, 2)), mask=M)
    model = ff.NMF(2, max_iter=20).fit(low_rank_nonneg(rng, 10, 6, 2))
    bad = low_rank_nonneg(rng, 3, 6, 2)
    bad[1] = np.nan
    with pytest.raises(ValueError, match="row index 1"):
        model.transform(bad)


def test_bad_masks(rng):
    X = low_rank_nonneg(rng, 10, 6, 2)
    with pytest.raises(ValueError, match=r"mask has shape \(6, 10\), but X has shape \(10, 6\)"):
        ff.NMF(2).fit(X, mask=np.ones((6, 10), dtype=bool))
    with pytest.raises(ValueError, match=r"mask has shape \(10, 5\)"):
        ff.NMF(2).fit(sp.csr_matrix(X), mask=sp.csr_matrix(np.ones((10, 5))))
    with pytest.raises(ValueError, match="mask must be boolean"):
        ff.NMF(2).fit(X, mask=np.full(X.shape, 0.5))
    model = ff.NMF(2, max_iter=10).fit(X)
    with pytest.raises(ValueError, match="mask has shape"):
        model.transform(X, mask=np.ones((3, 3), dtype=bool))


def test_bad_values_with_missing_entries(rng):
    X = _with_holes(rng, low_rank_nonneg(rng, 10, 6, 2))
    neg = X.copy()
    neg[~np.isnan(neg)][:1] = 0
    neg[np.unravel_index(np.nanargmax(neg), neg.shape)] = -0.5
    with pytest.raises(ValueError, match=r"Negative values.*min found: -0\.5"):
        ff.NMF(2).fit(neg)
    inf = X.copy()
    inf[np.unravel_index(np.nanargmax(inf), inf.shape)] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        ff.NMF(2).fit(inf)
    zeros = X.copy()
    zeros[np.unravel_index(np.nanargmax(zeros), zeros.shape)] = 0
    with pytest.raises(ValueError, match="beta_loss.*zeros"):
        ff.NMF(2, solver="mu", beta_loss="itakura-saito").fit(zeros)
