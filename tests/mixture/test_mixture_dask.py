"""Gaussian mixtures on dask arrays: equal to the single-machine fit, on real worker processes."""
import numpy as np
import pytest

import fastfactor as ff

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")
pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_gaussian_mixture_on_dask_equals_local(dask_client, covariance_type):
    from fastfactor import datasets

    X = datasets.make_gaussian_blobs(100, n_features=8, n_blobs=5)
    params = dict(n_components=5, covariance_type=covariance_type, max_iter=15,
                  init_params="random_from_data", random_state=0)
    local = ff.GaussianMixture(**params).fit(X)
    Xd = da.from_array(X, chunks=(125, 8))
    dist = ff.GaussianMixture(**params).fit(Xd)
    assert dist.lower_bound_ == pytest.approx(local.lower_bound_, rel=1e-10)
    np.testing.assert_allclose(dist.means_, local.means_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dist.covariances_, local.covariances_, rtol=1e-8, atol=1e-12)
    proba = dist.predict_proba(Xd)
    assert isinstance(proba, da.Array)  # responsibilities stay in their blocks
    np.testing.assert_allclose(proba.compute(), local.predict_proba(X), rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(dist.predict(Xd).compute(), local.predict(X))


def test_gaussian_mixture_killed_worker_does_not_change_the_result(dask_client, kill_workers,
                                                                    monkeypatch):
    """The E-step tasks run on X's blocks kept on the workers: when a worker dies its
    blocks are recomputed from X's graph and its tasks rerun, with the same numbers."""
    from fastfactor import datasets

    X = datasets.make_gaussian_blobs(150, n_features=6, n_blobs=4)
    params = dict(n_components=4, covariance_type="full", max_iter=12, tol=0,
                  init_params="random_from_data", random_state=0)
    local = ff.GaussianMixture(**params).fit(X)
    model = ff.GaussianMixture(**params)
    calls = []
    em_step = ff.GaussianMixture._em_step

    def em_step_then_kill(self, data, p):
        calls.append(1)
        if len(calls) == 4:  # mid-fit, with every block in a worker's memory
            kill_workers(sorted(dask_client.nthreads())[:1])
        return em_step(self, data, p)

    monkeypatch.setattr(ff.GaussianMixture, "_em_step", em_step_then_kill)
    model.fit(da.from_array(X, chunks=(150, 6)))
    monkeypatch.undo()
    assert len(calls) == 12
    assert model.lower_bound_ == pytest.approx(local.lower_bound_, rel=1e-10)
    np.testing.assert_allclose(model.means_, local.means_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.covariances_, local.covariances_, rtol=1e-8, atol=1e-12)


def test_gaussian_mixture_dask_init_limits():
    X = da.from_array(np.random.default_rng(0).normal(size=(200, 3)), chunks=(50, 3))
    with pytest.raises(ValueError, match="random_from_data"):
        ff.GaussianMixture(2, init_params="kmeans").fit(X)
