"""The block runner every Dask fit uses (fastfactor._utils.dask), on real worker processes."""
import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.filterwarnings("ignore")


def test_blocks_are_spread_evenly_over_the_workers(dask_client):
    """Each worker keeps an equal run of X's blocks, wherever X was persisted."""
    from fastfactor._utils.dask import BlockRunner

    X = np.arange(800.0).reshape(200, 4)
    Xd = da.from_array(X, chunks=(25, 4)).persist(workers=sorted(dask_client.nthreads())[:1])
    runner = BlockRunner(Xd)
    distributed.wait(runner.blocks)
    who_has = dask_client.who_has(runner.blocks)
    holders = [sorted(who_has[b.key]) for b in runner.blocks]
    assert [len(h) for h in holders] == [1] * 8
    workers = sorted(dask_client.nthreads())
    assert [h[0] for h in holders] == [workers[0]] * 4 + [workers[1]] * 4
    np.testing.assert_array_equal(np.concatenate(runner.gather(runner.blocks)), X)


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
def test_gather_sum_is_the_tree_sum(dask_client, n_parts):
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
