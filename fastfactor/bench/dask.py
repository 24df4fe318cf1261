"""Overhead of a distributed fit: a 2-worker LocalCluster against the in-process fit.

Same data, same initial factors, same total threads (two single-threaded
worker processes vs one process with two threads). The per-iteration cost
is split into the time the tasks spend computing (measured inside the
tasks by dask) and the rest (scheduling, transfers, the client's H update).
Skipped when dask/distributed are not installed.
"""
import time
import warnings

import numpy as np

import fastfactor as ff
from fastfactor import datasets
from fastfactor._nmf_init import initialize_nmf


def run(quick=False):
    try:
        import dask.array as da
        import distributed
    except ImportError:
        return []
    warnings.simplefilter("ignore")
    m, n, k = (4000, 1000, 16) if quick else (20000, 2000, 32)  # 320 MB float64 when full
    X = datasets.make_low_rank_nonneg(m, n, k)
    W0, H0 = initialize_nmf(X, k, init="nndsvda")
    n_iter = 5 if quick else 20
    rows = []
    for solver in ("cd", "mu"):
        params = dict(n_components=k, init="custom", solver=solver, max_iter=n_iter, tol=0)
        start = time.perf_counter()
        local = ff.NMF(n_threads=2, **params).fit(X, W=W0.copy(), H=H0.copy())
        t_local = time.perf_counter() - start
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None, silence_logs=50) as cluster, \
                distributed.Client(cluster) as client:
            Xd = da.from_array(X, chunks=(m // 8, n)).persist()
            distributed.wait(Xd)
            client.run(lambda: None)
            compute = _TaskTime(client)
            start = time.perf_counter()
            dist = ff.NMF(n_threads=1, **params).fit(Xd, W=W0.copy(), H=H0.copy())
            t_dist = time.perf_counter() - start
            busy = compute.seconds() / 2  # two workers run in parallel
        same = np.allclose(dist.components_, local.components_, rtol=1e-8,
                           atol=1e-10 * local.components_.max())
        rows.append(dict(problem=f"dask {m}x{n} ({X.nbytes / 1e6:.0f} MB)",
                         what=f"NMF {solver}, {n_iter} it.: 2-worker LocalCluster vs in-process",
                         fastfactor_s=t_dist, reference_s=t_local, speedup=t_local / t_dist,
                         note=f"slowdown {t_dist / t_local:.2f}x (target <= 1.3x); per "
                              f"iteration {1e3 * t_dist / n_iter:.0f} ms of which tasks "
                              f"compute {1e3 * busy / n_iter:.0f} ms; same model {same}"))
    return rows


class _TaskTime:
    """Sum of task compute time on the workers since creation (from the task stream)."""

    def __init__(self, client):
        from distributed import get_task_stream

        self.stream = get_task_stream(client=client)
        self.stream.__enter__()

    def seconds(self):
        self.stream.__exit__(None, None, None)
        total = 0.0
        for task in self.stream.data:
            for part in task.get("startstops", ()):
                if part.get("action") == "compute":
                    total += part["stop"] - part["start"]
        return total
