"""randomized_svd and TruncatedSVD: against numpy's exact SVD and scikit-learn's."""
import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp

from fastfactor import TruncatedSVD, randomized_svd
from fastfactor.svd import _energy, _randomized, energy_rank


def low_rank_plus_noise(m, n, rank, noise=1e-3, decay=(10.0, 1.0), seed=0, dtype=np.float64):
    """A = L diag(s) R + noise, with singular values spread over ``decay``."""
    rng = np.random.default_rng(seed)
    L = np.linalg.qr(rng.standard_normal((m, rank)))[0]
    R = np.linalg.qr(rng.standard_normal((n, rank)))[0].T
    s = np.geomspace(decay[0], decay[1], rank)
    A = (L * s) @ R + noise * rng.standard_normal((m, n))
    return A.astype(dtype)


def exact_energy_rank(A, fraction, energy="squared"):
    s = np.linalg.svd(np.asarray(A, dtype=np.float64), compute_uv=False)
    values = s ** 2 if energy == "squared" else s
    cum = np.cumsum(values) / values.sum()
    return int(np.searchsorted(cum, fraction)) + 1, cum


def max_angle(A, B):
    return np.max(scipy.linalg.subspace_angles(A, B))


@pytest.fixture(scope="module")
def gapped():
    return low_rank_plus_noise(120, 80, 12, noise=1e-4)


# --------------------------------------------------------------------------
# fixed rank
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(120, 80), (80, 120)])
@pytest.mark.parametrize("normalizer", ["auto", "QR", "LU", "none"])
def test_matches_exact_svd(shape, normalizer):
    A = low_rank_plus_noise(*shape, 12, noise=1e-4)
    U0, s0, Vt0 = np.linalg.svd(A, full_matrices=False)
    U, S, Vt = randomized_svd(A, 8, power_iteration_normalizer=normalizer, random_state=0)
    assert U.shape == (shape[0], 8) and S.shape == (8,) and Vt.shape == (8, shape[1])
    np.testing.assert_allclose(S, s0[:8], rtol=1e-9)
    assert max_angle(U, U0[:, :8]) < 1e-6
    assert max_angle(Vt.T, Vt0[:8].T) < 1e-6
    np.testing.assert_allclose(U.T @ U, np.eye(8), atol=1e-10)
    np.testing.assert_allclose(Vt @ Vt.T, np.eye(8), atol=1e-10)


def test_sign_convention_and_values_match_sklearn(gapped):
    extmath = pytest.importorskip("sklearn.utils.extmath")
    U, S, Vt = randomized_svd(gapped, 6, random_state=0)
    U2, S2, Vt2 = extmath.randomized_svd(gapped, 6, random_state=0)
    np.testing.assert_allclose(S, S2, rtol=1e-9)
    # same sign convention (largest |U[:, j]| positive), so the factors agree
    np.testing.assert_allclose(U, U2, atol=1e-6)
    np.testing.assert_allclose(Vt, Vt2, atol=1e-6)
    assert np.all(U[np.argmax(np.abs(U), axis=0), np.arange(6)] > 0)


@pytest.mark.parametrize("n_iter", [0, 1, 2, 5, "auto"])
@pytest.mark.parametrize("k", [10, 40])
def test_reconstruction_error_not_worse_than_sklearn(n_iter, k):
    extmath = pytest.importorskip("sklearn.utils.extmath")
    X = np.random.default_rng(0).random((300, 200))  # flat spectrum: the hard case
    s = np.linalg.svd(X, compute_uv=False)
    best = np.sqrt(np.sum(s[k:] ** 2))
    ours, theirs = [], []
    for seed in range(6):
        U, S, Vt = randomized_svd(X, k, n_iter=n_iter, random_state=seed)
        ours.append(np.linalg.norm(X - (U * S) @ Vt))
        U, S, Vt = extmath.randomized_svd(X, k, n_iter=n_iter, random_state=seed)
        theirs.append(np.linalg.norm(X - (U * S) @ Vt))
    assert min(ours) >= best * (1 - 1e-12)
    # the same power iterations, plus the previous iterate in the final projection
    assert np.mean(ours) <= np.mean(theirs) * (1 + 1e-3)


def test_sparse_input_not_densified_and_matches_dense(gapped, monkeypatch):
    X = sp.csr_matrix(np.where(np.abs(gapped) > 0.02, gapped, 0.0))
    dense = X.toarray()

    def no_toarray(*args, **kwargs):
        raise AssertionError("sparse input was densified")

    monkeypatch.setattr(sp.csr_matrix, "toarray", no_toarray)
    U, S, Vt = randomized_svd(X, 5, random_state=0)
    monkeypatch.undo()
    U2, S2, Vt2 = randomized_svd(dense, 5, random_state=0)
    np.testing.assert_allclose(S, S2, rtol=1e-8)
    np.testing.assert_allclose(np.abs(U.T @ U2), np.eye(5), atol=1e-5)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_formats(gapped, fmt):
    X = sp.random(90, 70, density=0.1, format=fmt, random_state=0)
    s0 = np.linalg.svd(X.toarray(), compute_uv=False)
    _, S, _ = randomized_svd(X, 4, n_iter=10, random_state=0)
    np.testing.assert_allclose(S, s0[:4], rtol=1e-4)


@pytest.mark.parametrize("sparse", [False, True])
def test_float32_kept(gapped, sparse):
    X = gapped.astype(np.float32)
    if sparse:
        X = sp.csr_matrix(X)
    U, S, Vt = randomized_svd(X, 5, random_state=0)
    assert U.dtype == S.dtype == Vt.dtype == np.float32
    s0 = np.linalg.svd(gapped, compute_uv=False)
    np.testing.assert_allclose(S, s0[:5], rtol=1e-4)


def test_sketch_dtypes_agree(gapped):
    _, S32, Vt32 = randomized_svd(gapped, 6, random_state=0, sketch_dtype="auto")
    _, S64, Vt64 = randomized_svd(gapped, 6, random_state=0, sketch_dtype="float64")
    np.testing.assert_allclose(S32, S64, rtol=1e-10)
    assert max_angle(Vt32.T, Vt64.T) < 1e-6


def test_steep_spectrum_float32_sketch_keeps_float64_accuracy():
    rng = np.random.default_rng(1)
    s_true = np.geomspace(1, 1e-9, 40)
    L = np.linalg.qr(rng.standard_normal((200, 40)))[0]
    R = np.linalg.qr(rng.standard_normal((150, 40)))[0]
    A = (L * s_true) @ R.T
    _, S, _ = randomized_svd(A, 20, random_state=0)
    np.testing.assert_allclose(S, s_true[:20], rtol=1e-6)


def test_reproducible_and_transpose(gapped):
    a = randomized_svd(gapped, 5, random_state=3)
    b = randomized_svd(gapped, 5, random_state=3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    for transpose in (True, False):
        _, S, _ = randomized_svd(gapped, 5, transpose=transpose, random_state=0)
        np.testing.assert_allclose(S, a[1], rtol=1e-9)


@pytest.mark.parametrize("X", [np.ones((30, 20)), np.ones((200, 150)),
                               np.outer(np.arange(1, 41), np.arange(1, 31)) * 1.0,
                               np.zeros((12, 9))])
@pytest.mark.parametrize("n_components", [1, 3, 0.5, 0.999999])
def test_rank_deficient_matrices(X, n_components):
    # the sketch holds far more columns than the rank: the basis must stay orthonormal
    U, S, Vt = randomized_svd(X, n_components, random_state=0)
    s0 = np.linalg.svd(X, compute_uv=False)
    np.testing.assert_allclose(S, s0[:len(S)], atol=1e-10 * max(s0[0], 1))
    np.testing.assert_allclose(U.T @ U, np.eye(len(S)), atol=1e-10)
    np.testing.assert_allclose(Vt @ Vt.T, np.eye(len(S)), atol=1e-10)
    if isinstance(n_components, float):
        assert len(S) == 1


def test_full_rank_and_flip_sign_false():
    X = np.random.default_rng(0).random((7, 5))
    U, S, Vt = randomized_svd(X, 5, flip_sign=False, random_state=0)
    np.testing.assert_allclose((U * S) @ Vt, X, atol=1e-12)


# --------------------------------------------------------------------------
# rank by energy
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(300, 200), (150, 260)])
@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.8, 0.9, 0.95, 0.99])
@pytest.mark.parametrize("kind", ["dense", "sparse", "float32"])
def test_energy_rank_is_exact(shape, fraction, kind):
    A = low_rank_plus_noise(*shape, 40, noise=1e-3, decay=(10.0, 0.2), seed=1)
    k0, cum = exact_energy_rank(A, fraction)
    X = A
    if kind == "sparse":
        X = sp.csr_matrix(A)
    elif kind == "float32":
        X = A.astype(np.float32)
    U, S, Vt = randomized_svd(X, fraction, random_state=0)
    assert len(S) == k0 == U.shape[1] == Vt.shape[0]
    s0 = np.linalg.svd(A, compute_uv=False)
    np.testing.assert_allclose(S, s0[:k0], rtol=1e-4 if kind == "float32" else 1e-8)
    assert S.dtype == (np.float32 if kind == "float32" else np.float64)


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.97])
def test_energy_rank_crossing_in_the_noise(fraction):
    # much noise: the 90% mark falls among many slowly decaying values
    A = low_rank_plus_noise(200, 150, 10, noise=0.3, decay=(20.0, 5.0), seed=2)
    k0, cum = exact_energy_rank(A, fraction)
    _, S, _ = randomized_svd(A, fraction, random_state=0)
    # never below the exact rank; equal unless the target is within rounding of a step
    assert len(S) >= k0
    assert cum[len(S) - 2] < fraction + 1e-3 if len(S) > 1 else True


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.99])
def test_energy_linear_convention(fraction):
    A = low_rank_plus_noise(120, 90, 30, noise=1e-3, decay=(10.0, 0.1), seed=3)
    k0, _ = exact_energy_rank(A, fraction, energy="linear")
    _, S, _ = randomized_svd(A, fraction, energy="linear", random_state=0)
    assert len(S) == k0
    _, S, _ = randomized_svd(sp.csr_matrix(A), fraction, energy="linear", random_state=0)
    assert len(S) == k0


def test_energy_rank_deficient_matrix_reaches_full_basis():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((20, 3)) @ rng.standard_normal((3, 15))
    _, S, _ = randomized_svd(A, 0.999999, random_state=0)
    assert len(S) == 3
    B = rng.standard_normal((12, 9))  # full rank, all energy needed
    _, S, _ = randomized_svd(B, 0.9999999, random_state=0)
    assert len(S) == 9


def test_energy_block_size_does_not_change_rank():
    A = low_rank_plus_noise(200, 160, 40, noise=1e-3, decay=(10.0, 0.2), seed=4)
    k0, _ = exact_energy_rank(A, 0.9)
    for block_size in (1, 5, 64):
        _, S, _ = randomized_svd(A, 0.9, block_size=block_size, random_state=0)
        assert len(S) == k0


def test_energy_rank_helper():
    s = np.array([4.0, 2.0, 1.0, 1.0])
    assert energy_rank(s, 0.7) == 1          # 16 / 22
    assert energy_rank(s, 0.9) == 2          # 20 / 22
    assert energy_rank(s, 0.5, energy="linear") == 1   # 4 / 8
    assert energy_rank(s, 0.8, energy="linear") == 3   # 7 / 8
    assert energy_rank(s[:2], 0.99, total=100.0) == 2  # not reached: all values given
    with pytest.raises(ValueError, match="fraction"):
        energy_rank(s, 1.5)
    with pytest.raises(ValueError, match="energy"):
        energy_rank(s, 0.5, energy="cubic")


def test_linear_energy_refuses_huge_gram(monkeypatch, gapped):
    monkeypatch.setattr(_energy, "MAX_GRAM_SIDE", 50)
    with pytest.raises(ValueError, match="MAX_GRAM_SIDE"):
        randomized_svd(gapped, 0.9, energy="linear")
    randomized_svd(gapped, 5, energy="linear")  # an int rank does not need it


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------

@pytest.mark.parametrize("n_components, error, match", [
    (0, ValueError, "n_components must be >= 1"),
    (81, ValueError, "n_components must be <= 80"),
    (0.0, ValueError, r"must be in \(0, 1\)"),
    (1.0, ValueError, r"must be in \(0, 1\)"),
    (1.5, ValueError, r"must be in \(0, 1\)"),
    (-0.2, ValueError, r"must be in \(0, 1\)"),
    (float("nan"), ValueError, r"must be in \(0, 1\)"),
    (True, TypeError, "n_components must be an int"),
    ("10", TypeError, "n_components must be an int"),
    (None, TypeError, "n_components must be an int"),
])
def test_bad_n_components(gapped, n_components, error, match):
    with pytest.raises(error, match=match):
        randomized_svd(gapped, n_components)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_iter": -1}, ValueError, "n_iter"),
    ({"n_iter": 2.5}, TypeError, "n_iter"),
    ({"n_oversamples": -1}, ValueError, "n_oversamples"),
    ({"power_iteration_normalizer": "qr"}, ValueError, "power_iteration_normalizer"),
    ({"energy": "cubic"}, ValueError, "energy"),
    ({"sketch_dtype": "float16"}, ValueError, "sketch_dtype"),
    ({"block_size": 0}, ValueError, "block_size"),
    ({"transpose": "yes"}, TypeError, "transpose"),
    ({"svd_lapack_driver": "gesvj"}, ValueError, "svd_lapack_driver"),
    ({"random_state": "seed"}, TypeError, "random_state"),
])
def test_bad_parameters(gapped, kwargs, error, match):
    with pytest.raises(error, match=match):
        randomized_svd(gapped, 3, **kwargs)


@pytest.mark.parametrize("X, error, match", [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), ValueError, "NaN"),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), ValueError, "infinity"),
    (np.ones(5), ValueError, "Expected 2D"),
    (np.ones((2, 2, 2)), ValueError, "Expected 2D"),
    (np.ones((0, 3)), ValueError, "0 sample"),
    (np.array([["a", "b"]]), TypeError, "numbers"),
    (None, ValueError, "None"),
])
def test_bad_arrays(X, error, match):
    with pytest.raises(error, match=match):
        randomized_svd(X, 1)


def test_nan_in_sparse():
    X = sp.random(10, 8, density=0.5, format="csr", random_state=0)
    X.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        randomized_svd(X, 2)


# --------------------------------------------------------------------------
# TruncatedSVD
# --------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["randomized", "arpack"])
@pytest.mark.parametrize("sparse", [False, True])
def test_truncated_svd_matches_sklearn(gapped, algorithm, sparse):
    skd = pytest.importorskip("sklearn.decomposition")
    X = sp.csr_matrix(gapped) if sparse else gapped
    ours = TruncatedSVD(5, algorithm=algorithm, random_state=0)
    Xt = ours.fit_transform(X)
    theirs = skd.TruncatedSVD(5, algorithm=algorithm, random_state=0)
    Xt2 = theirs.fit_transform(X)
    np.testing.assert_allclose(ours.singular_values_, theirs.singular_values_, rtol=1e-8)
    np.testing.assert_allclose(ours.components_, theirs.components_, atol=1e-6)
    np.testing.assert_allclose(Xt, Xt2, atol=1e-6)
    np.testing.assert_allclose(ours.explained_variance_, theirs.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(ours.explained_variance_ratio_,
                               theirs.explained_variance_ratio_, rtol=1e-6)
    np.testing.assert_allclose(ours.transform(X), Xt, atol=1e-9)
    assert ours.n_components_ == 5 and ours.n_features_in_ == 80


def test_truncated_svd_inverse_transform(gapped):
    est = TruncatedSVD(12, random_state=0).fit(gapped)
    back = est.inverse_transform(est.transform(gapped))
    assert np.linalg.norm(back - gapped) / np.linalg.norm(gapped) < 1e-3
    with pytest.raises(ValueError, match="components"):
        est.inverse_transform(np.ones((2, 3)))


@pytest.mark.parametrize("algorithm", ["randomized", "arpack"])
def test_truncated_svd_energy(algorithm):
    A = low_rank_plus_noise(300, 200, 40, noise=1e-3, decay=(10.0, 0.2), seed=1)
    k0, cum = exact_energy_rank(A, 0.9)
    est = TruncatedSVD(0.9, algorithm=algorithm, random_state=0).fit(A)
    assert est.n_components_ == k0 == est.components_.shape[0]
    s0 = np.linalg.svd(A, compute_uv=False)
    assert np.sum(est.singular_values_ ** 2) / np.sum(s0 ** 2) >= 0.9


@pytest.mark.parametrize("algorithm", ["randomized", "arpack"])
@pytest.mark.parametrize("sparse", [False, True])
def test_truncated_svd_float32(gapped, sparse, algorithm):
    X = gapped.astype(np.float32)
    X = sp.csr_matrix(X) if sparse else X
    est = TruncatedSVD(4, algorithm=algorithm, random_state=0)
    Xt = est.fit_transform(X)
    assert Xt.dtype == est.components_.dtype == est.transform(X).dtype == np.float32
    assert est.singular_values_.dtype == np.float32


def test_truncated_svd_bad_input(gapped):
    from fastfactor import NotFittedError

    with pytest.raises(NotFittedError):
        TruncatedSVD().transform(gapped)
    with pytest.raises(ValueError, match="algorithm"):
        TruncatedSVD(algorithm="lanczos").fit(gapped)
    with pytest.raises(ValueError, match="n_components"):
        TruncatedSVD(200).fit(gapped)
    with pytest.raises(ValueError, match="n_components"):
        TruncatedSVD(80, algorithm="arpack").fit(gapped)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        TruncatedSVD(1.2).fit(gapped)
    with pytest.raises(ValueError, match="1 feature"):
        TruncatedSVD(2).fit(gapped[:, :1])
    with pytest.raises(ValueError, match="tol"):
        TruncatedSVD(tol=-1.0).fit(gapped)
    est = TruncatedSVD(3, random_state=0).fit(gapped)
    with pytest.raises(ValueError, match="features"):
        est.transform(gapped[:, :10])
    with pytest.raises(ValueError, match="NaN"):
        est.transform(np.full_like(gapped, np.nan))


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("name", ["n_jobs", "n_threads"])
def test_truncated_svd_thread_names_reach_the_kernels(gapped, monkeypatch, name, sparse):
    from fastfactor import kernels

    X = sp.csr_matrix(gapped) if sparse else gapped
    kernel = "csr_matmul" if sparse else "dense_matmul"
    seen = []

    def spy(*args, n_threads=None, **kwargs):
        seen.append(n_threads)
        return original(*args, n_threads=n_threads, **kwargs)

    original = getattr(kernels, kernel)
    reference = TruncatedSVD(5, random_state=0, sketch_dtype="float64").fit(X)
    monkeypatch.setattr(kernels, kernel, spy)
    est = TruncatedSVD(5, random_state=0, sketch_dtype="float64", **{name: 1})
    X_new = est.fit_transform(X)
    assert seen and set(seen) == {1}
    assert est.get_params()[name] == 1
    seen.clear()
    np.testing.assert_allclose(est.transform(X), X_new, rtol=1e-10, atol=1e-12)
    assert seen == [1]
    np.testing.assert_allclose(est.components_, reference.components_, rtol=1e-10,
                               atol=1e-12)


def test_truncated_svd_thread_names_must_agree(gapped):
    TruncatedSVD(3, n_jobs=2, n_threads=2, random_state=0).fit(gapped)  # the same value
    with pytest.raises(ValueError, match="n_threads=1 and n_jobs=2"):
        TruncatedSVD(3, n_jobs=2, n_threads=1).fit(gapped)
    est = TruncatedSVD(3, random_state=0).fit(gapped)
    est.set_params(n_jobs=1, n_threads=2)
    with pytest.raises(ValueError, match="same setting"):
        est.transform(gapped)


def test_truncated_svd_thread_names_must_agree_on_dask(gapped):
    da = pytest.importorskip("dask.array")
    with pytest.raises(ValueError, match="same setting"):
        TruncatedSVD(3, n_jobs=1, n_threads=2).fit(da.from_array(gapped, chunks=(40, 80)))


def test_check_estimator():
    checks = pytest.importorskip("sklearn.utils.estimator_checks")
    failed = [r for r in checks.check_estimator(TruncatedSVD(), on_fail=None)
              if r["status"] == "failed"]
    assert not failed, [(r["check_name"], str(r["exception"])[:200]) for r in failed]


@pytest.mark.filterwarnings("ignore:Maximum number of iterations")
def test_nmf_nndsvd_init_still_uses_randomized_svd():
    from fastfactor import NMF

    X = np.random.default_rng(0).random((40, 30))
    model = NMF(5, init="nndsvd", random_state=0, max_iter=50)
    W = model.fit_transform(X)
    assert W.shape == (40, 5) and np.all(W >= 0)


@pytest.mark.parametrize("shape", [(40, 9), (9, 40)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_full_rank_request_is_the_exact_svd(shape, dtype):
    # n_components + n_oversamples >= min(shape): the exact thin SVD, with the
    # random stream advanced as the sketch would have advanced it
    X = np.random.default_rng(3).random(shape).astype(dtype)
    rng = np.random.RandomState(0)
    U, S, Vt = randomized_svd(X, 6, n_oversamples=3, random_state=rng)
    S_exact = np.linalg.svd(X.astype(np.float64), compute_uv=False)[:6]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(S, S_exact, rtol=tol)
    assert U.dtype == S.dtype == Vt.dtype == dtype
    assert U.shape == (shape[0], 6) and Vt.shape == (6, shape[1])
    np.testing.assert_allclose((U * S) @ Vt, _best_rank(X.astype(np.float64), 6),
                               atol=50 * tol * S[0])
    twin = np.random.RandomState(0)
    twin.standard_normal(size=(max(shape), min(shape)))
    assert rng.randint(2**31) == twin.randint(2**31)


def _best_rank(X, k):
    U, S, Vt = np.linalg.svd(X, full_matrices=False)
    return (U[:, :k] * S[:k]) @ Vt[:k]


def test_full_rank_request_on_a_large_matrix_keeps_the_randomized_path(monkeypatch):
    # past the size limit LAPACK's copy of M is not made: the sketch runs
    monkeypatch.setattr(_randomized, "EXACT_SVD_MAX_ENTRIES", 100)
    monkeypatch.setattr(scipy.linalg, "svd", _refuse_full_svd(scipy.linalg.svd))
    X = np.random.default_rng(4).random((40, 9))
    U, S, Vt = randomized_svd(X, 6, random_state=0)
    np.testing.assert_allclose(S, np.linalg.svd(X, compute_uv=False)[:6], rtol=1e-8)


def _refuse_full_svd(svd):
    def guarded(a, *args, **kwargs):
        assert a.shape != (40, 9) and a.shape != (9, 40), "exact SVD of M itself"
        return svd(a, *args, **kwargs)
    return guarded
