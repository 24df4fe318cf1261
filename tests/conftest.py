import os
import time

import numpy as np
import pytest

# the Dask tests' shared cluster: single-threaded worker processes, each under a nanny
DASK_WORKERS = 2


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def low_rank_nonneg(rng, m, n, rank, noise=0.1, dtype=np.float64):
    """A non-negative matrix close to rank ``rank``."""
    X = rng.random((m, rank)) @ rng.random((rank, n)) + noise * rng.random((m, n))
    return X.astype(dtype)


@pytest.fixture(scope="session")
def dask_client():
    """A client of a LocalCluster of ``DASK_WORKERS`` worker processes, for the whole run.

    Tests that kill workers take :func:`kill_workers`, which hands the
    cluster back at full strength.
    """
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=DASK_WORKERS, processes=True,
                                       threads_per_worker=1, dashboard_address=None,
                                       silence_logs=50)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.fixture
def kill_workers(dask_client):
    """``kill_workers(addresses)`` ends those worker processes at once (mid-fit, say).

    Each worker's nanny starts a new one; on teardown the fixture waits until
    the scheduler has dropped every killed worker and counts
    ``DASK_WORKERS`` again, so that later tests never see a shrunken
    cluster (``Client.wait_for_workers`` alone can return while the
    scheduler still lists a dead worker).
    """
    killed = set()

    def kill(addresses):
        dask_client.run(os._exit, 1, workers=list(addresses), on_error="ignore")
        killed.update(addresses)

    yield kill
    deadline = time.monotonic() + 60
    while True:
        workers = set(dask_client.scheduler_info()["workers"])
        if len(workers) == DASK_WORKERS and not workers & killed:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the cluster did not recover from killing {sorted(killed)}: "
                               f"workers {sorted(workers)}")
        time.sleep(0.1)
    dask_client.wait_for_workers(DASK_WORKERS, timeout=60)
