"""DeepNMF: pretraining + fine-tuning, API, bad layer sizes."""
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import fastfactor as ff


pytestmark = pytest.mark.filterwarnings("ignore::fastfactor.exceptions.ConvergenceWarning")


def _hierarchical(rng, m=120, n=60, sizes=(12, 4), dtype=np.float64):
    """X = W_L H_L ... H_1 + noise, all factors non-negative."""
    W = rng.random((m, sizes[-1]))
    chain = np.eye(sizes[-1])
    factors = [rng.random((sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)]
    H1 = rng.random((sizes[0], n))
    for F in reversed(factors):
        chain = chain @ F
    X = W @ chain @ H1 + 0.05 * rng.random((m, n))
    return X.astype(dtype)


@pytest.mark.parametrize("sizes", [[12, 4], [15, 8, 3], [5]])
def test_fine_tuning_is_no_worse_than_pretraining(sizes, rng):
    X = _hierarchical(rng)
    model = ff.DeepNMF(sizes, random_state=0, pretrain_max_iter=100, max_iter=40, n_threads=1)
    W = model.fit_transform(X)
    losses = np.array(model.loss_history_)
    assert model.reconstruction_err_ <= model.pretrain_reconstruction_err_ * (1 + 1e-12)
    # every fine-tuning iteration is a descent step
    assert np.all(np.diff(losses) <= 1e-10 * losses[0])
    # the reported losses are the real reconstruction errors
    chain = model.layer_components_[-1]
    for F in reversed(model.layer_components_[:-1]):
        chain = chain @ F
    np.testing.assert_allclose(chain, model.components_, rtol=1e-12)
    assert np.linalg.norm(X - W @ model.components_) == pytest.approx(
        model.reconstruction_err_, rel=1e-7)
    assert np.sqrt(2 * losses[0]) == pytest.approx(model.pretrain_reconstruction_err_)


def test_fine_tuning_improves_a_multilayer_fit(rng):
    X = _hierarchical(rng, sizes=(15, 8, 3))
    model = ff.DeepNMF([15, 8, 3], random_state=0, max_iter=60, n_threads=1).fit(X)
    assert model.reconstruction_err_ < 0.9 * model.pretrain_reconstruction_err_


def test_shapes_layers_and_non_negativity(rng):
    X = _hierarchical(rng)
    model = ff.DeepNMF([12, 6, 2], random_state=0, max_iter=5, n_threads=1)
    W = model.fit_transform(X)
    assert W.shape == (120, 2) and model.n_components_ == 2
    assert [F.shape for F in model.layer_components_] == [(12, 60), (6, 12), (2, 6)]
    assert model.components_.shape == (2, 60)
    assert all((F >= 0).all() for F in model.layer_components_) and (W >= 0).all()
    assert model.inverse_transform(W).shape == X.shape
    assert list(model.get_feature_names_out()) == ["deepnmf0", "deepnmf1"]


def test_transform_solves_for_codes_with_dictionary_fixed(rng):
    X = _hierarchical(rng)
    model = ff.DeepNMF([12, 4], random_state=0, max_iter=30, n_threads=1).fit(X)
    W_new = model.transform(X[:20])
    from scipy.optimize import nnls

    # the chained dictionary is ill-conditioned (cond ~1e3 here): coordinate
    # solve must still reach the exact non-negative least-squares optimum
    for i in range(20):
        w_ref, _ = nnls(model.components_.T, X[i])
        assert np.linalg.norm(X[i] - W_new[i] @ model.components_) <= \
            np.linalg.norm(X[i] - w_ref @ model.components_) * (1 + 1e-6)


def test_sparse_float32_pickle_and_determinism(rng):
    X = _hierarchical(rng)
    X[X < np.median(X)] = 0
    a = ff.DeepNMF([10, 3], random_state=0, max_iter=10, n_threads=1).fit(sp.csr_matrix(X))
    b = ff.DeepNMF([10, 3], random_state=0, max_iter=10, n_threads=1).fit(X)
    # NMF's accelerated HALS budgets its sweeps by nnz, so sparse and dense
    # pretraining take different (equally valid) paths: compare fit quality
    assert a.reconstruction_err_ == pytest.approx(b.reconstruction_err_, rel=0.05)
    assert a.reconstruction_err_ <= a.pretrain_reconstruction_err_
    c = ff.DeepNMF([10, 3], random_state=0, max_iter=10, n_threads=1).fit(X)
    assert np.array_equal(b.components_, c.components_)
    restored = pickle.loads(pickle.dumps(b))
    np.testing.assert_array_equal(restored.transform(X), b.transform(X))
    X32 = X.astype(np.float32)
    f32 = ff.DeepNMF([10, 3], random_state=0, max_iter=10, n_threads=1)
    W32 = f32.fit_transform(X32)
    assert W32.dtype == np.float32 and f32.components_.dtype == np.float32
    assert f32.transform(X32).dtype == np.float32
    assert f32.reconstruction_err_ == pytest.approx(b.reconstruction_err_, rel=1e-2)


def test_check_estimator_passes():
    pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(ff.DeepNMF([2, 1], max_iter=20, n_threads=1), on_fail=None)
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed
    assert len(results) > 30


@pytest.mark.parametrize("sizes,error,match", [
    ([4, 8], ValueError, r"strictly decreasing.*layer_sizes\[1\]=8 >= layer_sizes\[0\]=4"),
    ([4, 4], ValueError, "strictly decreasing"),
    ([4, 0], ValueError, r"layer_sizes\[1\] must be >= 1"),
    ([-2], ValueError, r"layer_sizes\[0\] must be >= 1"),
    ([], ValueError, "at least one layer"),
    ([4, 2.5], TypeError, r"layer_sizes\[1\] must be an int"),
    (4, TypeError, "layer_sizes must be a sequence"),
    ("42", TypeError, "layer_sizes must be a sequence"),
])
def test_bad_layer_sizes(sizes, error, match, rng):
    X = _hierarchical(rng, m=20, n=10, sizes=(4, 2))
    with pytest.raises(error, match=match):
        ff.DeepNMF(sizes).fit(X)


def test_other_bad_input(rng):
    X = _hierarchical(rng, m=20, n=10, sizes=(4, 2))
    with pytest.raises(ValueError, match="Negative values"):
        ff.DeepNMF([4, 2]).fit(-X)
    with pytest.raises(ValueError, match="max_iter must be >= 0"):
        ff.DeepNMF([4, 2], max_iter=-1).fit(X)
    model = ff.DeepNMF([4, 2], max_iter=2, n_threads=1).fit(X)
    with pytest.raises(ValueError, match="X has 3 columns, but DeepNMF has 2 components"):
        model.inverse_transform(np.ones((2, 3)))
    with pytest.raises(ValueError, match="X has 9 features"):
        model.transform(X[:, :9])
