"""Truncated SVD on dask arrays: equal to the single-machine fit, on real worker processes."""
import os

import numpy as np
import pytest

import fastfactor as ff

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")
pytestmark = pytest.mark.filterwarnings("ignore")


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
def test_truncated_svd_on_dask_equals_local(dask_client, shape, params, rtol):
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


def test_truncated_svd_column_chunks_and_transform(dask_client):
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


def test_truncated_svd_bad_dask_inputs(dask_client):
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
