"""NMF on dask arrays: equal to the single-machine fit, on real worker processes."""
import os
import warnings

import numpy as np
import pytest

import fastfactor as ff

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None, silence_logs=50)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


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
def test_distributed_fit_equals_local_fit(client, problem, config):
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
def test_distributed_fit_stops_where_the_local_fit_does(client, problem, config):
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


def test_transform_is_chunkwise(client, problem):
    X, _, _ = problem
    model = ff.NMF(6, max_iter=20, random_state=0).fit(X)
    out = model.transform(da.from_array(X, chunks=(100, 40)))
    assert isinstance(out, da.Array) and out.chunks[0] == (100,) * 6
    # the solver's stopping test looks at the rows it is given, so compare block by block
    blockwise = np.vstack([model.transform(X[i:i + 100]) for i in range(0, 600, 100)])
    np.testing.assert_allclose(out.compute(), blockwise, rtol=1e-10)


def test_init_from_distributed_svd(client, problem):
    X, _, _ = problem
    model = ff.NMF(6, max_iter=50, random_state=0).fit(da.from_array(X, chunks=(150, 80)))
    local = ff.NMF(6, max_iter=50, random_state=0).fit(X)
    # different sketches, same quality
    assert model.reconstruction_err_ == pytest.approx(local.reconstruction_err_, rel=0.02)


@pytest.mark.parametrize("victims", ["one", "all"])
def test_a_killed_worker_does_not_change_the_result(client, problem, caplog, victims):
    """Lost blocks are recomputed by the scheduler when their inputs survive; when they
    cannot be (all workers died, and the scattered W with them), the fit restarts from
    its last snapshot. Either way the model is the one of the local fit."""
    import logging

    from fastfactor.nmf._dask import _SNAPSHOT_EVERY

    X, W0, H0 = problem
    local = ff.NMF(6, init="custom", max_iter=30, tol=0).fit(X, W=W0.copy(), H=H0.copy())
    killed = []

    def kill_workers(state):  # after the first snapshot, so a restart starts from it
        if state["n_iter"] == _SNAPSHOT_EVERY + 3 and not killed:
            workers = sorted(client.scheduler_info()["workers"])
            workers = workers[:1] if victims == "one" else workers
            client.run(os._exit, 1, workers=workers, on_error="ignore")
            killed.extend(workers)

    model = ff.NMF(6, init="custom", max_iter=30, tol=0)
    Xd = da.from_array(X, chunks=(100, 80))
    with caplog.at_level(logging.INFO, logger="fastfactor.nmf._dask"):
        model._fit_dask(Xd, W=W0.copy(), H=H0.copy(), callback=kill_workers)
    assert killed
    if victims == "all":
        assert f"restarting from iteration {_SNAPSHOT_EVERY}" in caplog.text
    np.testing.assert_allclose(model.components_, local.components_, rtol=1e-9,
                               atol=1e-11 * local.components_.max())
    client.wait_for_workers(2, timeout=60)


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


def test_sparse_coding_is_chunkwise(client):
    rng = np.random.default_rng(0)
    D = rng.normal(size=(30, 20))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Y = rng.normal(size=(120, 20))
    Yd = da.from_array(Y, chunks=(40, 10))  # column chunks are joined into whole rows
    for algorithm, kw in [("lasso_cd", dict(alpha=0.1)), ("omp", dict(n_nonzero_coefs=3))]:
        codes = ff.sparse_encode(Yd, D, algorithm=algorithm, **kw)
        assert isinstance(codes, da.Array)
        np.testing.assert_allclose(codes.compute(), ff.sparse_encode(Y, D, algorithm=algorithm,
                                                                     **kw), rtol=1e-10,
                                   atol=1e-12)
    coder = ff.SparseCoder(D, transform_algorithm="lasso_cd", transform_alpha=0.1)
    np.testing.assert_allclose(coder.transform(Yd).compute(), coder.transform(Y), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_gaussian_mixture_on_dask_equals_local(client, covariance_type):
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


def test_gaussian_mixture_killed_worker_does_not_change_the_result(client):
    """The E-step tasks run on X's blocks kept on the workers: when a worker dies its
    blocks are recomputed from X's graph and its tasks rerun, with the same numbers."""
    from fastfactor import datasets
    from fastfactor.mixture import _gaussian_mixture as mixture

    X = datasets.make_gaussian_blobs(150, n_features=6, n_blobs=4)
    params = dict(n_components=4, covariance_type="full", max_iter=12, tol=0,
                  init_params="random_from_data", random_state=0)
    local = ff.GaussianMixture(**params).fit(X)
    model = ff.GaussianMixture(**params)
    calls = []
    em_step = mixture.GaussianMixture._em_step

    def em_step_then_kill(self, data, p):
        calls.append(1)
        if len(calls) == 4:  # mid-fit, with every block in a worker's memory
            worker = sorted(client.nthreads())[:1]
            client.run(os._exit, 1, workers=worker, on_error="ignore")
        return em_step(self, data, p)

    try:
        mixture.GaussianMixture._em_step = em_step_then_kill
        model.fit(da.from_array(X, chunks=(150, 6)))
    finally:
        mixture.GaussianMixture._em_step = em_step
    assert len(calls) == 12
    assert model.lower_bound_ == pytest.approx(local.lower_bound_, rel=1e-10)
    np.testing.assert_allclose(model.means_, local.means_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.covariances_, local.covariances_, rtol=1e-8, atol=1e-12)
    client.wait_for_workers(2, timeout=60)


def test_blocks_are_spread_evenly_over_the_workers(client):
    """Each worker keeps an equal run of X's blocks, wherever X was persisted."""
    from fastfactor._utils.dask import BlockRunner

    X = np.arange(800.0).reshape(200, 4)
    Xd = da.from_array(X, chunks=(25, 4)).persist(workers=sorted(client.nthreads())[:1])
    runner = BlockRunner(Xd)
    distributed.wait(runner.blocks)
    who_has = client.who_has(runner.blocks)
    holders = [sorted(who_has[b.key]) for b in runner.blocks]
    assert [len(h) for h in holders] == [1] * 8
    workers = sorted(client.nthreads())
    assert [h[0] for h in holders] == [workers[0]] * 4 + [workers[1]] * 4
    np.testing.assert_array_equal(np.concatenate(runner.gather(runner.blocks)), X)


def test_gaussian_mixture_dask_init_limits():
    X = da.from_array(np.random.default_rng(0).normal(size=(200, 3)), chunks=(50, 3))
    with pytest.raises(ValueError, match="random_from_data"):
        ff.GaussianMixture(2, init_params="kmeans").fit(X)


# ------------------------------------------------------------------ truncated SVD

def _svd_data(shape=(700, 60), rank=12, seed=0):
    rng = np.random.default_rng(seed)
    m, n = shape
    return (rng.normal(size=(m, rank)) @ rng.normal(size=(rank, n))
            + 0.05 * rng.normal(size=(m, n)))


def _assert_same_svd(dist, local, X_dist, X_local, rtol):
    assert isinstance(X_dist, da.Array)
    assert dist.n_components_ == local.n_components_
    scale = np.abs(local.components_).max()
    np.testing.assert_allclose(dist.components_, local.components_, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(dist.singular_values_, local.singular_values_, rtol=1e-10)
    np.testing.assert_allclose(dist.explained_variance_, local.explained_variance_,
                               rtol=max(rtol, 1e-10))
    np.testing.assert_allclose(dist.explained_variance_ratio_, local.explained_variance_ratio_,
                               rtol=max(rtol, 1e-10))
    np.testing.assert_allclose(X_dist.compute(), X_local, rtol=0,
                               atol=rtol * np.abs(X_local).max())


SVD_CONFIGS = [
    # float64 sketch: the same arithmetic up to the grouping of the sums over blocks
    ("tall", dict(n_components=5, sketch_dtype="float64"), 1e-11),
    ("wide", dict(n_components=5, sketch_dtype="float64"), 1e-11),
    ("tall", dict(n_components=0.9, sketch_dtype="float64"), 1e-11),
    ("tall", dict(n_components=0.9, energy="linear", sketch_dtype="float64"), 1e-11),
    ("wide", dict(n_components=0.9, sketch_dtype="float64"), 1e-11),
    ("tall", dict(n_components=5, power_iteration_normalizer="QR", sketch_dtype="float64"),
     1e-11),
    # default float32 power iterations: float32 rounding in the subspace, components to
    # ~1e-7 (the singular values, second order in the subspace error, to ~1e-14)
    ("tall", dict(n_components=5), 1e-5),
    ("wide", dict(n_components=5, power_iteration_normalizer="LU"), 1e-5),
    # many components of a flat spectrum: the basis extension and its fallbacks
    ("flat", dict(n_components=30, sketch_dtype="float64"), 1e-10),
]


@pytest.mark.parametrize("shape,params,rtol", SVD_CONFIGS,
                         ids=lambda v: v if isinstance(v, str) else None)
def test_truncated_svd_on_dask_equals_local(client, shape, params, rtol):
    if shape == "flat":
        X, chunks = np.random.default_rng(1).random((300, 40)), (50, 40)
    elif shape == "tall":
        X, chunks = _svd_data(), (100, 60)
    else:
        X, chunks = _svd_data().T.copy(), (20, 700)
    local = ff.TruncatedSVD(random_state=0, **params)
    X_local = local.fit_transform(X)
    dist = ff.TruncatedSVD(random_state=0, **params)
    X_dist = dist.fit_transform(da.from_array(X, chunks=chunks))
    assert X_dist.chunks[0] == da.from_array(X, chunks=chunks).chunks[0]
    _assert_same_svd(dist, local, X_dist, X_local, rtol)


def test_truncated_svd_column_chunks_and_transform(client):
    X = _svd_data()
    local = ff.TruncatedSVD(6, random_state=3, sketch_dtype="float64")
    X_local = local.fit_transform(X)
    model = ff.TruncatedSVD(6, random_state=3, sketch_dtype="float64")
    X_new = model.fit_transform(da.from_array(X, chunks=(150, 25)))  # rows joined first
    _assert_same_svd(model, local, X_new, X_local, 1e-11)
    Y = _svd_data(seed=1)[:230]
    out = model.transform(da.from_array(Y, chunks=(50, 30)))
    assert isinstance(out, da.Array) and out.chunks == ((50, 50, 50, 50, 30), (6,))
    np.testing.assert_allclose(out.compute(), local.transform(Y), rtol=0,
                               atol=1e-11 * np.abs(local.transform(Y)).max())
    with pytest.raises(ValueError, match="X has 40 features"):
        model.transform(da.from_array(Y[:, :40], chunks=(50, 40)))


def test_truncated_svd_on_dask_without_a_cluster():
    """With dask's own schedulers the same block tasks run in this process."""
    import dask

    X = _svd_data()
    local = ff.TruncatedSVD(4, random_state=0)
    X_local = local.fit_transform(X)
    with dask.config.set(scheduler="sync"):
        from fastfactor._utils.dask import default_client

        assert default_client() is None
        dist = ff.TruncatedSVD(4, random_state=0)
        X_dist = dist.fit_transform(da.from_array(X, chunks=(100, 60)))
        _assert_same_svd(dist, local, X_dist, X_local, 1e-5)


def test_truncated_svd_bad_dask_inputs(client):
    X = _svd_data()
    Xd = da.from_array(X, chunks=(100, 60))
    with pytest.raises(ValueError, match="algorithm='arpack'"):
        ff.TruncatedSVD(3, algorithm="arpack").fit(Xd)
    with pytest.raises(ValueError, match="energy='linear'.*rows as columns"):
        ff.TruncatedSVD(0.9, energy="linear").fit(Xd.T.rechunk((20, 700)))
    with pytest.raises(ValueError, match="n_components must be <= 60, got 61"):
        ff.TruncatedSVD(61).fit(Xd)
    with pytest.raises(ValueError, match="power_iteration_normalizer"):
        ff.TruncatedSVD(3, power_iteration_normalizer="Householder").fit(Xd)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        ff.TruncatedSVD(3).fit(Xd[Xd[:, 0] > 0])
    bad = X.copy()
    bad[450, 7] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        ff.TruncatedSVD(3).fit(da.from_array(bad, chunks=(100, 60)))
    import scipy.sparse as sp

    sparse_chunks = Xd.map_blocks(sp.csr_matrix, meta=sp.csr_matrix((0, 0)))
    with pytest.raises(TypeError, match="numpy chunks, got csr_matrix"):
        ff.TruncatedSVD(3).fit(sparse_chunks)


def test_command_line_fit_svd_on_a_local_cluster(tmp_path):
    import json
    import subprocess
    import sys

    X = _svd_data()
    np.save(tmp_path / "X.npy", X)
    cmd = [sys.executable, "-m", "fastfactor", "fit", "svd", str(tmp_path / "X.npy"), "-o",
           str(tmp_path / "m.npz"), "-k", "5", "--seed", "0", "--sketch-dtype", "float64",
           "--dask-workers", "2", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=os.sep)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n_components"] == 5
    local = ff.TruncatedSVD(5, random_state=0, sketch_dtype="float64").fit(X)
    fitted = ff.load(tmp_path / "m.npz")
    np.testing.assert_allclose(fitted.components_, local.components_, rtol=0, atol=1e-11)
    np.testing.assert_allclose(fitted.singular_values_, local.singular_values_, rtol=1e-12)


def test_command_line_dask_options_name_the_models_that_take_them(tmp_path, capsys):
    from fastfactor.cli import _main as cli

    np.save(tmp_path / "X.npy", np.random.default_rng(0).random((40, 6)))
    code = cli.main(["fit", "dict", str(tmp_path / "X.npy"), "-o", str(tmp_path / "m.npz"),
                     "--dask-workers", "2"])
    assert code == cli.EXIT_USAGE
    assert "'fit nmf', 'fit gmm', 'fit svd'" in capsys.readouterr().err
    assert not (tmp_path / "m.npz").exists()


def test_misaligned_block_is_copied_once_and_kept_read_only():
    # a worker hands the same (possibly misaligned) array object to every
    # task: its aligned copy is made once, cannot be written to, and goes
    # when the array goes
    import gc

    from fastfactor._utils import dask as _dask

    raw = bytearray(8 * 12 + 1)
    block = np.frombuffer(raw, dtype=np.float64, offset=1, count=12).reshape(3, 4)
    assert not block.flags.aligned
    first = _dask.aligned(block)
    assert first.flags.aligned and not first.flags.writeable
    np.testing.assert_array_equal(first, block)
    assert _dask.aligned((block, 1))[0] is first
    assert _dask.aligned(block) is first
    with pytest.raises(ValueError):
        first[0, 0] = 1.0
    key = id(block)
    del block
    gc.collect()
    assert key not in _dask._ALIGNED_COPIES


@pytest.mark.parametrize("n_parts", [3, 12])
def test_gather_sum_is_the_tree_sum(client, n_parts):
    # up to fan_in parts are fetched and added on the client, more go through
    # the tree; either way the same sum, in the same order, bit for bit
    from fastfactor._utils import dask as _dask

    runner = _dask.BlockRunner(da.ones((40, 3), chunks=(10, 3)))
    rng = np.random.default_rng(n_parts)
    values = [(rng.random(4), rng.random((2, 2))) for _ in range(n_parts)]
    parts = [runner.submit(_dask._identity, v) for v in values]
    got = runner.gather_sum(parts)
    tree = runner.gather([runner.tree_sum(parts)])[0]
    for a, b in zip(got, tree):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(got[0], sum(v[0] for v in values), rtol=1e-14)
