"""Sparse coding of dask arrays: chunk by chunk, equal to the in-memory codes."""
import numpy as np
import pytest

import fastfactor as ff

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")
pytestmark = pytest.mark.filterwarnings("ignore")


def test_sparse_coding_is_chunkwise(dask_client):
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
