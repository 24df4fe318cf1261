import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def low_rank_nonneg(rng, m, n, rank, noise=0.1, dtype=np.float64):
    """A non-negative matrix close to rank ``rank``."""
    X = rng.random((m, rank)) @ rng.random((rank, n)) + noise * rng.random((m, n))
    return X.astype(dtype)
