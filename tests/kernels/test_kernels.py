"""Every kernel against its numpy twin, and the threading guarantees."""
import copy
import inspect

import numpy as np
import pytest

from fastfactor import kernels, reference, selftest

KERNELS = sorted(selftest.all_cases())


def test_every_kernel_has_a_twin_and_a_case():
    assert sorted(kernels.__all__) == sorted(reference.__all__)
    assert sorted(kernels.__all__) == sorted({selftest.kernel_name(c) for c in KERNELS})
    for name in kernels.__all__:
        assert callable(getattr(kernels, name)) and callable(getattr(reference, name))


def _parameters(function):
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("name", kernels.__all__)
def test_kernel_and_twin_have_the_same_signature(name):
    assert _parameters(getattr(kernels, name)) == _parameters(getattr(reference, name))


_API_MODULES = [module for key, module in sorted(vars(kernels).items())
                if key.endswith("_api") and inspect.ismodule(module)]


@pytest.mark.parametrize("name", KERNELS)
def test_every_kernel_sizes_its_threads_by_its_work(name, monkeypatch):
    # threads_for applies the small-call threshold; a kernel resolving
    # n_threads with effective_n_threads alone would parallelize any call
    from fastfactor._utils.threads import threads_for

    asked = []

    def spy(work, n_threads):
        asked.append(work)
        return threads_for(work, n_threads)

    for module in _API_MODULES:
        assert not hasattr(module, "effective_n_threads"), module.__name__
        monkeypatch.setattr(module, "threads_for", spy)
    _run(name, 2)
    assert asked and all(isinstance(work, int) and work >= 0 for work in asked)


@pytest.mark.parametrize("name", KERNELS)
@pytest.mark.parametrize("shape", selftest.SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_reference(name, shape, dtype):
    err = selftest.max_relative_error(name, *shape, dtype, seed=sum(shape))
    assert err <= selftest.RTOL[dtype], f"{name} {shape} {dtype}: {err}"


@pytest.fixture
def every_call_threaded(monkeypatch):
    """Let even small test inputs use every thread asked for."""
    monkeypatch.setattr("fastfactor._utils.threads.MIN_WORK_PER_THREAD", 1)


def _run(name, n_threads, dtype=np.float64, shape=(120, 50, 6)):
    args, kwargs = selftest.all_cases()[name](np.random.default_rng(1), *shape, dtype)
    args = copy.deepcopy(args)
    out = getattr(kernels, selftest.kernel_name(name))(*args, n_threads=n_threads, **kwargs)
    arrays = [np.asarray(a.toarray() if hasattr(a, "toarray") else a)
              for a in selftest._arrays_of(out) + [a for a in args if isinstance(a, np.ndarray)]]
    return arrays


@pytest.mark.parametrize("name", KERNELS)
def test_same_thread_count_is_bitwise_reproducible(name, every_call_threaded):
    for a, b in zip(_run(name, 2), _run(name, 2)):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("name", KERNELS)
def test_thread_counts_agree_to_rounding(name, every_call_threaded):
    for a, b in zip(_run(name, 1), _run(name, 2)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())


def test_float32_in_float32_out():
    rng = np.random.default_rng(0)
    args, kwargs = selftest.all_cases()["csr_matmul"](rng, 10, 8, 3, np.float32)
    assert kernels.csr_matmul(*args).dtype == np.float32
    args, kwargs = selftest.all_cases()["mu_beta_terms"](rng, 10, 8, 3, np.float32)
    num, pw = kernels.mu_beta_terms(*args, **kwargs)
    assert num.dtype == np.float32 and pw.dtype == np.float32


def test_in_place_kernels_refuse_arrays_they_cannot_update():
    W = np.asfortranarray(np.ones((4, 2)))
    with pytest.raises(ValueError, match="W must be C-contiguous"):
        kernels.mu_update(W, np.ones((4, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="W must be float32 or float64"):
        kernels.hals_update(np.ones((4, 2), dtype=int), np.ones((4, 2)), np.eye(2))


def test_kernel_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="XHt has shape"):
        kernels.hals_update(np.ones((4, 2)), np.ones((3, 2)), np.eye(2))
    with pytest.raises(ValueError, match="permutation"):
        kernels.hals_update(np.ones((4, 2)), np.ones((4, 2)), np.eye(2), permutation=[0, 5])
    with pytest.raises(ValueError, match="B has 3 rows"):
        import scipy.sparse as sp
        kernels.csr_matmul(sp.eye(4, format="csr"), np.ones((3, 2)))


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 1.5, 3.0])
@pytest.mark.parametrize("for_H", [False, True])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_fused_beta_products_every_beta_and_side(beta, for_H, n_threads, every_call_threaded):
    rng = np.random.default_rng(7)
    X = rng.random((37, 23))
    X[X < 0.2] = 0  # zeros in X, as in real data
    W, Ht = rng.random((37, 5)) + 0.01, rng.random((23, 5)) + 0.01
    num, den = kernels.mu_beta_products(X, W, Ht, beta, for_H=for_H, tile_rows=4,
                                        n_threads=n_threads)
    ref_num, ref_den = reference.mu_beta_products(X, W, Ht, beta, for_H=for_H)
    np.testing.assert_allclose(num, ref_num, rtol=1e-12)
    if beta == 1:
        assert den is None and ref_den is None
    else:
        np.testing.assert_allclose(den, ref_den, rtol=1e-12)


def test_fused_beta_products_refuses_frobenius_and_bad_shapes():
    X, W, Ht = np.ones((4, 3)), np.ones((4, 2)), np.ones((3, 2))
    with pytest.raises(ValueError, match="beta != 2"):
        kernels.mu_beta_products(X, W, Ht, 2.0)
    with pytest.raises(ValueError, match="Ht"):
        kernels.mu_beta_products(X, W, np.ones((5, 2)), 1.0)


def test_dense_matmul_shapes_and_errors(every_call_threaded):
    rng = np.random.default_rng(3)
    A, B = rng.random((9, 4)), rng.random((9, 3))
    np.testing.assert_allclose(kernels.dense_matmul(A, B, trans_a=True, n_threads=2),
                               A.T @ B, rtol=1e-13)
    np.testing.assert_allclose(kernels.dense_matmul(A.T, B, n_threads=2), A.T @ B, rtol=1e-13)
    assert kernels.dense_matmul(A.T.astype(np.float32), B.astype(np.float32)).dtype == np.float32
    assert kernels.dense_matmul(np.ones((0, 4)), np.ones((4, 2))).shape == (0, 2)
    np.testing.assert_array_equal(kernels.dense_matmul(np.ones((3, 0)), np.ones((0, 2))),
                                  np.zeros((3, 2)))
    with pytest.raises(ValueError, match="B has 9 rows"):
        kernels.dense_matmul(A, B)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_csr_matmul_walks_column_bands(dtype, every_call_threaded):
    # B too large for one band (> 128 KiB of rows): the kernel visits each
    # tile of rows band by band; the result must not depend on it
    import scipy.sparse as sp

    A = sp.random(600, 30000, density=0.002, format="csr", random_state=4, dtype=dtype)
    B = np.random.default_rng(5).random((30000, 3)).astype(dtype)
    expected = reference.csr_matmul(A, B)
    for n_threads in (1, 2):
        got = kernels.csr_matmul(A, B, n_threads=n_threads)
        np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)
