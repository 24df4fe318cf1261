"""What scikit-learn's NMF API does that fastfactor now matches.

Error messages that start with scikit-learn's own (checked against the
message scikit-learn raises for the same call), the resolved
``_n_components``, MiniBatchNMF equal to ``NMF(solver='mu')`` when one
batch holds every row and nothing is forgotten, and custom factors used as
the fit's buffers (the caller's H is ``components_``; ``partial_fit``
updates ``components_`` in place).
"""
import numpy as np
import pytest
import scipy.sparse as sp

import fastfactor as ff
from conftest import low_rank_nonneg

sklearn = pytest.importorskip("sklearn")
from sklearn import decomposition as skd  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::fastfactor.exceptions.ConvergenceWarning",
                                        "ignore::sklearn.exceptions.ConvergenceWarning")

A = np.ones((2, 2))
ZEROS = np.abs(np.random.RandomState(0).randn(6, 5)).clip(0.3) - 0.3  # has exact zeros


def _calls(lib):
    """Calls that raise, each made the same way on ``lib`` (fastfactor or sklearn)."""
    NMF, MiniBatchNMF, nnf = lib.NMF, lib.MiniBatchNMF, lib.non_negative_factorization
    return {
        "cd-beta": lambda: NMF(solver="cd", beta_loss=1.0).fit(A),
        "cd-beta-name": lambda: NMF(beta_loss="kullback-leibler").fit(A),
        "negative-H": lambda: nnf(A, A, -A, 2, init="custom"),
        "negative-W": lambda: nnf(A, -A, A, 2, init="custom"),
        "zero-H": lambda: nnf(A, A, 0 * A, 2, init="custom"),
        "zero-W": lambda: nnf(A, 0 * A, A, 2, init="custom"),
        "first-dim": lambda: NMF(2, init="custom").fit(A, W=np.ones((3, 2)), H=A),
        "second-dim": lambda: NMF(2, init="custom").fit(A, W=np.ones((2, 3)), H=A),
        "dtype": lambda: NMF(2, init="custom").fit(A, W=A, H=A.astype(np.float32)),
        "dtype-mb": lambda: MiniBatchNMF(2, init="custom").fit(A, W=A.astype(np.float32),
                                                               H=A),
        "dtype-fixed": lambda: nnf(A, H=A.astype(np.float32), n_components=2,
                                   update_H=False),
        "beta0-nmf": lambda: nnf(ZEROS, n_components=3, solver="mu", beta_loss=0.0),
        "beta-neg-sparse": lambda: nnf(sp.csr_matrix(ZEROS), n_components=3, solver="mu",
                                       beta_loss=-0.6),
        "beta0-mb": lambda: MiniBatchNMF(beta_loss="itakura-saito").fit(ZEROS),
        "nndsvd-k": lambda: NMF(3, init="nndsvd").fit(A),
        "nndsvda-k-mb": lambda: MiniBatchNMF(3, init="nndsvda").fit(A),
        "negative-X-mb": lambda: MiniBatchNMF(2).fit(-A),
    }


@pytest.mark.parametrize("case", sorted(_calls(ff)))
def test_errors_start_with_sklearns_message(case):
    with pytest.raises(Exception) as sk_error:
        _calls(skd)[case]()
    with pytest.raises(sk_error.type) as ff_error:
        _calls(ff)[case]()
    assert str(ff_error.value).startswith(str(sk_error.value)), (ff_error.value,
                                                                 sk_error.value)


def test_error_details_follow_sklearns_wording():
    with pytest.raises(ValueError, match=r"Expected 3, but got 2\. W has shape \(2, 2\)"):
        ff.NMF(2, init="custom").fit(np.ones((3, 2)), W=A, H=A)
    with pytest.raises(TypeError, match=r"X\.dtype is float64"):
        ff.NMF(2, init="custom").fit(A, W=A, H=A.astype(np.float32))
    with pytest.raises(ValueError, match=r"min found: -1"):
        ff.non_negative_factorization(A, A, -A, 2, init="custom")
    # the masked solver says where the zero was found
    X = ZEROS.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="When beta_loss <= 0 and X contains zeros.*"
                                         "observed entries"):
        ff.NMF(2, solver="mu", beta_loss=0.0).fit(X)


def test_bad_custom_factors():
    with pytest.raises(ValueError, match="must be an array-like"):
        ff.MiniBatchNMF(2, init="custom").fit(A, W=None, H=A)
    with pytest.raises(ValueError, match=r"Array with wrong second dimension passed to NMF "
                                         r"\(input H\)"):
        ff.MiniBatchNMF(2, init="custom").fit(A, W=A, H=np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"Array passed to NMF \(input H\) is full of zeros"):
        ff.MiniBatchNMF(2, init="custom").partial_fit(A, W=A, H=0 * A)
    with pytest.raises(ValueError, match="Input H contains infinity"):
        ff.NMF(2, init="custom").fit(A, W=A, H=np.full((2, 2), np.inf))
    # an integer factor is not X's dtype, as in scikit-learn
    with pytest.raises(TypeError, match="H and W should have the same dtype as X"):
        ff.NMF(2, init="custom").fit(A, W=A, H=np.ones((2, 2), dtype=int))


# ----------------------------------------------------------------- _n_components

@pytest.mark.parametrize("Estimator", [ff.NMF, ff.MiniBatchNMF])
@pytest.mark.parametrize("n_components,custom,expected",
                         [("auto", True, 2), (None, False, 5), (3, False, 3),
                          ("auto", False, 5)])
def test_resolved_n_components(Estimator, n_components, custom, expected, rng):
    X = rng.random((6, 5))
    est = Estimator(n_components, init="custom" if custom else "random", random_state=0,
                    max_iter=5)
    fit_args = dict(W=rng.random((6, 2)), H=rng.random((2, 5))) if custom else {}
    est.fit(X, **fit_args)
    assert est._n_components == est.n_components_ == expected


def test_resolved_n_components_masked(rng):
    X = rng.random((6, 5))
    X[0, 0] = np.nan
    assert ff.NMF(None, max_iter=5).fit(X)._n_components == 5


# ------------------------------------------- MiniBatchNMF as NMF(solver='mu')

@pytest.mark.parametrize("beta", [2, 1, 0.5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_full_batch_without_memory_is_nmf_mu(beta, dtype, rng):
    X = low_rank_nonneg(rng, 40, 12, 3, dtype=dtype)
    kw = dict(n_components=4, beta_loss=beta, random_state=0, tol=0, max_iter=50)
    W = ff.NMF(solver="mu", **kw).fit_transform(X)
    mb = ff.MiniBatchNMF(max_no_improvement=None, batch_size=40, forget_factor=0.0, **kw)
    rtol = 1e-9 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(mb.fit_transform(X), W, rtol=rtol, atol=rtol * W.max())
    # a batch_size above n_samples is one batch of every row too
    mb.set_params(batch_size=1000)
    np.testing.assert_allclose(mb.fit_transform(X), W, rtol=rtol, atol=rtol * W.max())


def test_full_batch_equivalence_matches_sklearn(rng):
    X = low_rank_nonneg(rng, 48, 5, 3)
    kw = dict(n_components=5, random_state=0, tol=0, max_no_improvement=None,
              batch_size=48, forget_factor=0.0, max_iter=100)
    W_sk = skd.MiniBatchNMF(**kw).fit_transform(X)
    np.testing.assert_allclose(ff.MiniBatchNMF(**kw).fit_transform(X), W_sk, rtol=1e-8,
                               atol=1e-12 * W_sk.max())


def test_acceleration_kept_outside_the_equivalence(rng):
    X = low_rank_nonneg(rng, 60, 30, 3)
    kw = dict(n_components=3, random_state=0, tol=0, max_no_improvement=None, max_iter=20)

    def fit(**params):
        return ff.MiniBatchNMF(**kw, **params).fit(X).components_

    # remembering past batches, or several batches: 'auto' still accelerates
    for params in (dict(batch_size=60, forget_factor=0.5), dict(batch_size=20,
                                                                 forget_factor=0.0)):
        assert not np.allclose(fit(**params), fit(max_inner_iter=1, **params))
    # an explicit max_inner_iter is honoured in the equivalence case too
    full = dict(batch_size=60, forget_factor=0.0)
    assert not np.allclose(fit(max_inner_iter=4, **full), fit(**full))


# --------------------------------------------------- custom factors as buffers

def test_custom_factors_are_updated_in_place_as_in_sklearn(rng):
    X = low_rank_nonneg(rng, 50, 8, 3)
    W0, H0 = rng.random((50, 3)), rng.random((3, 8))
    kw = dict(n_components=3, init="custom", batch_size=10, max_iter=3)
    W_sk, H_sk = W0.copy(), H0.copy()
    sk = skd.MiniBatchNMF(**kw)
    out_sk = sk.fit_transform(X, W=W_sk, H=H_sk)
    W_ff, H_ff = W0.copy(), H0.copy()
    ours = ff.MiniBatchNMF(**kw, max_inner_iter=1)
    out_ff = ours.fit_transform(X, W=W_ff, H=H_ff)
    assert out_sk is W_sk and sk.components_ is H_sk
    assert out_ff is W_ff and ours.components_ is H_ff
    np.testing.assert_allclose(H_ff, H_sk, rtol=1e-8)
    np.testing.assert_allclose(W_ff, W_sk, rtol=1e-8)


def test_custom_factors_of_any_layout_are_written_back(rng):
    X = low_rank_nonneg(rng, 30, 8, 3)
    W0, H0 = rng.random((30, 3)), rng.random((3, 8))
    kw = dict(n_components=3, init="custom", batch_size=10, max_iter=3)
    expected = ff.MiniBatchNMF(**kw).fit(X, W=W0.copy(), H=H0.copy()).components_
    W_f, H_f = np.asfortranarray(W0), np.asfortranarray(H0)
    model = ff.MiniBatchNMF(**kw)
    W = model.fit_transform(X, W=W_f, H=H_f)
    assert W is W_f and model.components_ is H_f
    np.testing.assert_array_equal(H_f, expected)


def test_read_only_or_listed_factors_are_left_alone(rng):
    X = low_rank_nonneg(rng, 30, 8, 3)
    W0, H0 = rng.random((30, 3)), rng.random((3, 8))
    kw = dict(n_components=3, init="custom", batch_size=10, max_iter=3)
    expected = ff.MiniBatchNMF(**kw).fit(X, W=W0.copy(), H=H0.copy()).components_
    H_ro, W_ro = H0.copy(), W0.copy()
    H_ro.flags.writeable = W_ro.flags.writeable = False
    model = ff.MiniBatchNMF(**kw)
    W = model.fit_transform(X, W=W_ro, H=H_ro)
    assert W is not W_ro and model.components_ is not H_ro
    np.testing.assert_array_equal(H_ro, H0)
    np.testing.assert_array_equal(model.components_, expected)
    listed = ff.MiniBatchNMF(**kw).fit(X, W=W0.tolist(), H=H0.tolist())
    np.testing.assert_array_equal(listed.components_, expected)


def test_fresh_restarts_leave_the_custom_W(rng):
    X = low_rank_nonneg(rng, 30, 8, 3)
    W0, H0 = rng.random((30, 3)), rng.random((3, 8))
    W_given = W0.copy()
    ff.MiniBatchNMF(3, init="custom", batch_size=10, max_iter=2,
                    fresh_restarts=True).fit(X, W=W_given, H=H0.copy())
    np.testing.assert_array_equal(W_given, W0)  # scikit-learn never writes it either


def test_partial_fit_updates_components_in_place(rng):
    X = low_rank_nonneg(rng, 40, 8, 3)
    W0, H0 = rng.random((10, 3)), rng.random((3, 8))
    H = H0.copy()
    model = ff.MiniBatchNMF(3, init="custom", random_state=0)
    model.partial_fit(X[:10], W=W0, H=H)
    assert model.components_ is H and not np.array_equal(H, H0)
    first = H.copy()
    model.partial_fit(X[10:20])
    assert model.components_ is H and not np.array_equal(H, first)
    # the same steps on copies give the same components
    copy = ff.MiniBatchNMF(3, init="custom", random_state=0)
    copy.partial_fit(X[:10], W=W0, H=H0.copy())
    copy.partial_fit(X[10:20])
    np.testing.assert_array_equal(copy.components_, H)


def test_partial_fit_steps_match_sklearn_with_custom_init(rng):
    X = low_rank_nonneg(rng, 40, 8, 3)
    W0, H0 = rng.random((10, 3)), rng.random((3, 8))
    sk = skd.MiniBatchNMF(3, init="custom", random_state=0)
    ours = ff.MiniBatchNMF(3, init="custom", random_state=0)
    H_sk, H_ff = H0.copy(), H0.copy()
    for start in range(0, 40, 10):
        sk.partial_fit(X[start:start + 10], W=W0, H=H_sk)
        ours.partial_fit(X[start:start + 10], W=W0, H=H_ff)
    assert sk.components_ is H_sk and ours.components_ is H_ff
    np.testing.assert_allclose(H_ff, H_sk, rtol=1e-8)
