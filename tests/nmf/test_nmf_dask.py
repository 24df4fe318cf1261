"""NMF on dask arrays: equal to the single-machine fit, on real worker processes."""
import os

import numpy as np
import pytest

import fastfactor as ff

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")
pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    X = rng.random((600, 10)) @ rng.random((10, 80)) + 0.1 * rng.random((600, 80))
    W0, H0 = rng.random((600, 6)), rng.random((6, 80))
    return X, W0, H0


CONFIGS = [dict(solver="cd"), dict(solver="cd", shuffle=True, random_state=1, alpha_W=0.01),
           dict(solver="mu"), dict(solver="mu", beta_loss="kullback-leibler"),
           dict(solver="mu", beta_loss=1.5)]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_distributed_fit_equals_local_fit(dask_client, problem, config):
    X, W0, H0 = problem
    local = ff.NMF(6, init="custom", max_iter=25, **config)
    W_local = local.fit_transform(X, W=W0.copy(), H=H0.copy())
    dist = ff.NMF(6, init="custom", max_iter=25, **config)
    W_dist = dist.fit_transform(da.from_array(X, chunks=(150, 80)), W=W0.copy(), H=H0.copy())
    assert isinstance(W_dist, da.Array)
    np.testing.assert_allclose(dist.components_, local.components_, rtol=1e-9,
                               atol=1e-11 * local.components_.max())
    np.testing.assert_allclose(W_dist.compute(), W_local, rtol=1e-9, atol=1e-11 * W_local.max())
    assert dist.n_iter_ == local.n_iter_
    assert dist.reconstruction_err_ == pytest.approx(local.reconstruction_err_, rel=1e-10)


@pytest.mark.parametrize("config", [dict(solver="cd", shuffle=True, tol=1e-2),
                                    dict(solver="mu", beta_loss=1.5, tol=1e-2),
                                    dict(solver="mu", tol=3e-3)],
                         ids=["cd-shuffle", "mu-1.5", "mu"])
def test_distributed_fit_stops_where_the_local_fit_does(dask_client, problem, config):
    """Iteration t + 1 is submitted before t's convergence is known; it must not count."""
    X, W0, H0 = problem
    rng_local, rng_dist = np.random.RandomState(0), np.random.RandomState(0)
    local = ff.NMF(6, init="custom", max_iter=300, random_state=rng_local, **config)
    local.fit(X, W=W0.copy(), H=H0.copy())
    assert 10 < local.n_iter_ < 300 and local.n_iter_ % 10 != 5  # stops early
    dist = ff.NMF(6, init="custom", max_iter=300, random_state=rng_dist, **config)
    dist.fit(da.from_array(X, chunks=(150, 80)), W=W0.copy(), H=H0.copy())
    assert dist.n_iter_ == local.n_iter_
    np.testing.assert_allclose(dist.components_, local.components_, rtol=1e-9,
                               atol=1e-11 * local.components_.max())
    np.testing.assert_allclose(dist.loss_history_, local.loss_history_, rtol=1e-9)
    # the draws of the dropped iteration were undone: the generators are in step
    assert rng_dist.randint(2**31) == rng_local.randint(2**31)


def test_negative_entry_in_one_block_is_found(problem):
    X, _, _ = problem
    X = X.copy()
    X[310, 4] = -0.25  # one block has a negative minimum, the others positive ones
    with pytest.raises(ValueError, match=r"min found: -0\.25"):
        ff.NMF(3).fit(da.from_array(X, chunks=(100, 80)))


@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_default_scheduler_without_client(problem, solver):
    """Without a distributed client the block tasks run in this process."""
    import dask

    from fastfactor._utils.dask import default_client

    X, W0, H0 = problem
    local = ff.NMF(6, init="custom", max_iter=12, solver=solver)
    W_local = local.fit_transform(X, W=W0.copy(), H=H0.copy())
    with dask.config.set(scheduler="synchronous"):
        assert default_client() is None
        model = ff.NMF(6, init="custom", max_iter=12, solver=solver)
        W = model.fit_transform(da.from_array(X, chunks=(200, 80)), W=W0.copy(), H=H0.copy())
    np.testing.assert_allclose(model.components_, local.components_, rtol=1e-9)
    np.testing.assert_allclose(W.compute(), W_local, rtol=1e-9, atol=1e-11 * W_local.max())
    np.testing.assert_allclose(model.loss_history_, local.loss_history_, rtol=1e-9)


def test_transform_is_chunkwise(dask_client, problem):
    X, _, _ = problem
    model = ff.NMF(6, max_iter=20, random_state=0).fit(X)
    out = model.transform(da.from_array(X, chunks=(100, 40)))
    assert isinstance(out, da.Array) and out.chunks[0] == (100,) * 6
    # the solver's stopping test looks at the rows it is given, so compare block by block
    blockwise = np.vstack([model.transform(X[i:i + 100]) for i in range(0, 600, 100)])
    np.testing.assert_allclose(out.compute(), blockwise, rtol=1e-10)


def test_init_from_distributed_svd(dask_client, problem):
    X, _, _ = problem
    model = ff.NMF(6, max_iter=50, random_state=0).fit(da.from_array(X, chunks=(150, 80)))
    local = ff.NMF(6, max_iter=50, random_state=0).fit(X)
    # different sketches, same quality
    assert model.reconstruction_err_ == pytest.approx(local.reconstruction_err_, rel=0.02)


@pytest.mark.parametrize("victims", ["one", "all"])
def test_a_killed_worker_does_not_change_the_result(dask_client, kill_workers, problem, caplog,
                                                    victims):
    """Lost blocks are recomputed by the scheduler when their inputs survive; when they
    cannot be (all workers died, and the scattered W with them), the fit restarts from
    its last snapshot. Either way the model is the one of the local fit."""
    import logging

    from fastfactor.nmf._dask import _SNAPSHOT_EVERY

    X, W0, H0 = problem
    local = ff.NMF(6, init="custom", max_iter=30, tol=0).fit(X, W=W0.copy(), H=H0.copy())
    killed = []

    def kill_mid_fit(state):  # after the first snapshot, so a restart starts from it
        if state["n_iter"] == _SNAPSHOT_EVERY + 3 and not killed:
            workers = sorted(dask_client.scheduler_info()["workers"])
            workers = workers[:1] if victims == "one" else workers
            kill_workers(workers)
            killed.extend(workers)

    model = ff.NMF(6, init="custom", max_iter=30, tol=0)
    Xd = da.from_array(X, chunks=(100, 80))
    with caplog.at_level(logging.INFO, logger="fastfactor.nmf._dask"):
        model._fit_dask(Xd, W=W0.copy(), H=H0.copy(), callback=kill_mid_fit)
    assert killed
    if victims == "all":
        assert f"restarting from iteration {_SNAPSHOT_EVERY}" in caplog.text
    np.testing.assert_allclose(model.components_, local.components_, rtol=1e-9,
                               atol=1e-11 * local.components_.max())


def test_bad_dask_inputs(problem):
    X, _, _ = problem
    Xd = da.from_array(X, chunks=(100, 80))
    unknown = Xd[Xd[:, 0] > 0.5]  # unknown row chunk sizes
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        ff.NMF(3).fit(unknown)
    with pytest.raises(ValueError, match="Negative values"):
        ff.NMF(3).fit(-Xd)
    column_chunked = da.from_array(X, chunks=(600, 20))
    model = ff.NMF(3, max_iter=5, random_state=0, init="random").fit(column_chunked)
    assert model.components_.shape == (3, 80)
    with pytest.raises(ValueError, match="X has 40 features"):
        model.transform(da.from_array(X[:, :40], chunks=(100, 40)))


def test_command_line_on_a_local_cluster(tmp_path, problem):
    import json
    import subprocess
    import sys

    X, _, _ = problem
    np.save(tmp_path / "X.npy", X)
    cmd = [sys.executable, "-m", "fastfactor", "fit", "nmf", str(tmp_path / "X.npy"), "-o",
           str(tmp_path / "m.npz"), "-k", "4", "--max-iter", "20", "--init", "random",
           "--seed", "0", "--dask-workers", "2", "--json", "--checkpoint",
           str(tmp_path / "c.npz"), "--checkpoint-every", "5"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=os.sep)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n_iter"] == 20 and (tmp_path / "c.npz").exists()
    local = ff.NMF(4, max_iter=20, init="random", random_state=0).fit(X)
    np.testing.assert_allclose(ff.load(tmp_path / "m.npz").components_, local.components_,
                               rtol=1e-8, atol=1e-10)


def test_command_line_scheduler_that_does_not_answer(tmp_path, problem):
    import subprocess
    import sys

    X, _, _ = problem
    np.save(tmp_path / "X.npy", X)
    cmd = [sys.executable, "-m", "fastfactor", "fit", "nmf", str(tmp_path / "X.npy"), "-o",
           str(tmp_path / "m.npz"), "--scheduler", "tcp://127.0.0.1:9", "--dask-timeout", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=os.sep)
    assert proc.returncode == 3 and "no dask scheduler answered" in proc.stderr
    assert not (tmp_path / "m.npz").exists()
