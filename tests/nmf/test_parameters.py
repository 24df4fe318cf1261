"""Parameter checks of the NMF estimators, and the n_threads / n_jobs alias."""
import numpy as np
import pytest

import fastfactor as ff
from conftest import low_rank_nonneg


pytestmark = pytest.mark.filterwarnings("ignore::fastfactor.exceptions.ConvergenceWarning")


NMF_BAD_PARAMETERS = [
    (dict(n_components=0), ValueError, "n_components must be >= 1"),
    (dict(n_components=2.5), TypeError, "n_components must be an int"),
    (dict(n_components="many"), TypeError, "n_components must be an int"),
    (dict(solver="als"), ValueError, "solver must be one of"),
    (dict(init="svd"), ValueError, "init must be one of"),
    (dict(beta_loss="euclid"), ValueError, "beta_loss must be one of"),
    (dict(beta_loss="kullback-leibler"), ValueError, "needs solver='mu'"),
    (dict(tol=-1.0), ValueError, "tol must be >= 0"),
    (dict(max_iter=0), ValueError, "max_iter must be >= 1"),
    (dict(alpha_W=-0.1), ValueError, "alpha_W must be >= 0"),
    (dict(l1_ratio=1.5), ValueError, "l1_ratio must be <= 1"),
    (dict(max_inner_iter=0), ValueError, "max_inner_iter must be >= 1"),
    (dict(n_components=9, init="nndsvd"), ValueError, "n_components <= min"),
    (dict(n_threads=0), ValueError, "n_threads"),
]
MINIBATCH_BAD_PARAMETERS = [
    (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
    (dict(forget_factor=1.5), ValueError, "forget_factor must be <= 1"),
    (dict(max_no_improvement=0), ValueError, "max_no_improvement must be >= 1"),
    (dict(fresh_restarts="yes"), TypeError, "fresh_restarts must be a bool"),
    (dict(fresh_restarts_max_iter=0), ValueError, "fresh_restarts_max_iter must be >= 1"),
    (dict(transform_max_iter=0), ValueError, "transform_max_iter must be >= 1"),
    (dict(beta_loss="euclid"), ValueError, "beta_loss must be one of"),
    (dict(n_components=0), ValueError, "n_components must be >= 1"),
    (dict(max_inner_iter=0), ValueError, "max_inner_iter must be >= 1"),
]


@pytest.mark.parametrize("estimator,n_samples,params,error,match", [
    (ff.NMF, 10, *case) for case in NMF_BAD_PARAMETERS
] + [
    (ff.MiniBatchNMF, 20, *case) for case in MINIBATCH_BAD_PARAMETERS
])
def test_bad_parameters(estimator, n_samples, params, error, match, rng):
    X = low_rank_nonneg(rng, n_samples, 6, 2)
    with pytest.raises(error, match=match):
        estimator(**params).fit(X)


# ------------------------------------------------------------ n_jobs alias

def _with_missing(X):
    X = X.copy()
    X[::7, ::5] = np.nan
    return X


# each entry point fitted on X with the thread setting given as keywords; returns H
FITS = {
    "NMF": lambda X, **threads: ff.NMF(
        3, random_state=0, max_iter=30, **threads).fit(X).components_,
    "MiniBatchNMF": lambda X, **threads: ff.MiniBatchNMF(
        3, batch_size=20, max_iter=5, random_state=0, **threads).fit(X).components_,
    "DeepNMF": lambda X, **threads: ff.DeepNMF(
        (4, 2), random_state=0, pretrain_max_iter=20, max_iter=5, **threads).fit(X).components_,
    "non_negative_factorization": lambda X, **threads: ff.non_negative_factorization(
        X, n_components=3, random_state=0, max_iter=30, **threads)[1],
    "masked_non_negative_factorization": lambda X, **threads:
        ff.masked_non_negative_factorization(
            _with_missing(X), n_components=3, random_state=0, max_iter=30, **threads)[1],
}


@pytest.mark.parametrize("entry_point", FITS)
def test_n_jobs_is_an_alias_of_n_threads(entry_point, rng, monkeypatch):
    # small inputs normally run on one thread: make the two-thread fits real
    monkeypatch.setattr("fastfactor._utils.threads.MIN_WORK_PER_THREAD", 1)
    monkeypatch.setattr("fastfactor._utils.threads.MIN_PARALLEL_SIZE", 1)
    monkeypatch.setattr("fastfactor.nmf._masked.MIN_WORK_PER_THREAD", 1)
    X = low_rank_nonneg(rng, 60, 30, 3)
    fit = FITS[entry_point]
    expected = fit(X, n_threads=2)
    np.testing.assert_array_equal(fit(X, n_jobs=2), expected)
    np.testing.assert_array_equal(fit(X, n_threads=2, n_jobs=2), expected)
    with pytest.raises(ValueError, match="n_threads=1 and n_jobs=2"):
        fit(X, n_threads=1, n_jobs=2)


@pytest.mark.parametrize("estimator", [ff.NMF, ff.MiniBatchNMF, ff.DeepNMF])
def test_n_jobs_is_a_parameter(estimator):
    params = estimator(n_jobs=3).get_params()
    assert params["n_jobs"] == 3 and params["n_threads"] is None
