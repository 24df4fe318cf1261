"""The kernel build is chosen per CPU, and every build matches the references."""
import importlib
import os
import subprocess
import sys

import numpy as np
import pytest

from fastfactor import kernels
from fastfactor._utils import _cpu_features
from fastfactor.kernels import _dispatch


def _run(args, simd):
    env = dict(os.environ, FASTFACTOR_SIMD=simd)
    # outside the source tree, whose uncompiled package would shadow the installed one
    return subprocess.run([sys.executable, "-m", "fastfactor", *args], env=env, cwd=os.sep,
                          capture_output=True, text=True, timeout=600)


def test_baseline_build_passes_the_selftest():
    # The default run of the suite uses the AVX2 build on an AVX2 machine;
    # this checks the other build against the same numpy references.
    info = _run(["info"], "baseline")
    assert info.returncode == 0, info.stderr
    assert "simd       baseline kernels" in info.stdout
    result = _run(["selftest", "--no-timing"], "baseline")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not _cpu_features.has_avx2_fma(), reason="this CPU has no AVX2/FMA")
def test_avx2_build_is_used_where_the_cpu_has_it():
    if _dispatch._import_variant("_nmf") is None:
        pytest.skip("this install has no AVX2 build (not x86-64, or built with -Dnative=true)")
    assert set(_dispatch.loaded.values()) == {"avx2"}
    assert kernels._nmf.__name__ == "fastfactor.kernels._nmf_avx2"


def test_forcing_a_missing_avx2_build_is_an_error(monkeypatch):
    monkeypatch.setenv("FASTFACTOR_SIMD", "avx2")
    monkeypatch.setattr(_dispatch, "_import_variant", lambda name: None)
    with pytest.raises(ImportError, match="FASTFACTOR_SIMD=avx2"):
        _dispatch.load("_nmf")


@pytest.mark.parametrize("value", ["sse9", "fast", "1"])
def test_unknown_simd_setting_is_named(monkeypatch, value):
    monkeypatch.setenv("FASTFACTOR_SIMD", value)
    with pytest.raises(ValueError, match="FASTFACTOR_SIMD must be one of"):
        _dispatch.load("_nmf")


def test_baseline_setting_loads_the_baseline_build(monkeypatch):
    monkeypatch.setenv("FASTFACTOR_SIMD", "BaseLine ")
    module = _dispatch.load("_sparse_products")
    assert module.__name__ == "fastfactor.kernels._sparse_products"


@pytest.mark.skipif(_dispatch._import_variant("_sparse_products") is None,
                    reason="this install has no AVX2 build")
@pytest.mark.skipif(not _cpu_features.has_avx2_fma(), reason="this CPU has no AVX2/FMA")
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_both_builds_agree_to_rounding(dtype, rtol):
    import scipy.sparse as sp

    # by full name: the package attribute _sparse_products is the build in use
    # (the AVX2 one here), which would compare the AVX2 build with itself
    _sparse_products = importlib.import_module("fastfactor.kernels._sparse_products")
    _sparse_products_avx2 = importlib.import_module("fastfactor.kernels._sparse_products_avx2")
    assert _sparse_products is not _sparse_products_avx2

    A = sp.random(300, 200, density=0.05, format="csr", random_state=0, dtype=dtype)
    A.sort_indices()
    B = np.random.default_rng(0).random((200, 13)).astype(dtype)
    outs = []
    for module in (_sparse_products, _sparse_products_avx2):
        out = np.empty((300, 13), dtype=dtype)
        module.csr_matmul(A.data, A.indices.astype(np.intp), A.indptr.astype(np.intp), B, out, 2)
        outs.append(out)
    np.testing.assert_allclose(outs[1], outs[0], rtol=rtol)
