"""Overhead of a distributed fit: a 2-worker LocalCluster against the in-process fit.

Same data, same initial factors (NMF) or random state (truncated SVD), same
total threads (two single-threaded worker processes vs one process with two
threads). Each row splits the distributed time into the time the tasks
spend computing (measured inside the tasks by dask) and the rest
(scheduling, transfers, the client's share), and counts the client's
blocking round trips to the cluster (``Client.gather``/``scatter`` calls),
per iteration for NMF. Skipped when dask/distributed are not installed.
"""
import importlib
import time
import warnings

import numpy as np
import threadpoolctl

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
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=50) as cluster, \
            distributed.Client(cluster) as client:
        Xd = da.from_array(X, chunks=(m // 8, n)).persist()
        distributed.wait(Xd)
        client.run(importlib.import_module, "fastfactor")  # workers import it before timing
        problem = f"dask {m}x{n} ({X.nbytes / 1e6:.0f} MB)"
        for solver in ("cd", "mu"):
            params = dict(n_components=k, init="custom", solver=solver, tol=0)

            def local_fit(iters, params=params):
                with threadpoolctl.threadpool_limits(2):
                    return ff.NMF(n_threads=2, max_iter=iters, **params).fit(
                        X, W=W0.copy(), H=H0.copy())

            def dask_fit(iters, params=params):
                return ff.NMF(n_threads=1, max_iter=iters, **params).fit(
                    Xd, W=W0.copy(), H=H0.copy())

            t_local, local = _timed(local_fit, n_iter)
            (t_dist, dist), busy, waits = _measured(client, dask_fit, n_iter)
            # one iteration = the difference of two fits of different lengths (what
            # both fits do once, checks, initial and final loss, is left out)
            half = n_iter - n_iter // 2
            t_local_short, _ = _timed(local_fit, n_iter // 2)
            (t_dist_short, _), busy_short, waits_short = _measured(client, dask_fit,
                                                                   n_iter // 2)
            it_local = (t_local - t_local_short) / half
            it_dist = (t_dist - t_dist_short) / half
            same = np.allclose(dist.components_, local.components_, rtol=1e-8,
                               atol=1e-10 * local.components_.max())
            rows.append(_row(problem, f"NMF {solver}, {n_iter} it.", t_dist, t_local, busy,
                             f"one iteration {1e3 * it_dist:.0f} ms vs {1e3 * it_local:.0f} "
                             f"ms ({it_dist / it_local:.2f}x), of which tasks compute "
                             f"{1e3 * (busy - busy_short) / half:.0f} ms; "
                             f"{(waits - waits_short) / half:.2f} round trips per iteration "
                             f"({waits} in all; the client waits for iteration t while t + 1 "
                             f"runs); same model {same}"))
        # a rank inside the data's 32 strong directions: well separated singular
        # values, so the components themselves can be compared
        rows.append(_svd_row(client, X, Xd, problem, rank=8 if quick else 16))
    return rows


def _svd_row(client, X, Xd, problem, rank):
    params = dict(n_components=rank, random_state=0)

    def local_fit():
        with threadpoolctl.threadpool_limits(2):
            return ff.TruncatedSVD(**params).fit(X)

    t_local, local = _timed(local_fit)
    (t_dist, dist), busy, waits = _measured(client, lambda: ff.TruncatedSVD(**params).fit(Xd))
    ds = np.max(np.abs(dist.singular_values_ / local.singular_values_ - 1))
    dv = np.max(np.abs(dist.components_ - local.components_))
    return _row(problem, f"TruncatedSVD rank {rank}", t_dist, t_local, busy,
                f"{waits} round trips; tasks compute {busy:.2f} s of {t_dist:.2f} s; "
                f"singular values equal to {ds:.0e}, components to {dv:.0e} (float32 "
                "power iterations)")


def _row(problem, what, t_dist, t_local, busy, detail):
    return dict(problem=problem, what=f"{what}: 2-worker LocalCluster vs in-process",
                fastfactor_s=t_dist, reference_s=t_local, speedup=t_local / t_dist,
                note=f"slowdown {t_dist / t_local:.2f}x (target <= 1.3x); {detail}")


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def _measured(client, fn, *args):
    """((seconds, result), task compute seconds per worker, blocking calls) of ``fn``."""
    waits = _WaitCounter(client)
    compute = _TaskTime(client)
    try:
        timed = _timed(fn, *args)
    finally:
        waits.stop()
    return timed, compute.seconds() / 2, waits.count  # two workers run in parallel


class _WaitCounter:
    """Counts the client's calls that wait for the cluster (gather, scatter)."""

    def __init__(self, client):
        self.client = client
        self.count = 0
        for name in ("gather", "scatter"):
            setattr(client, name, self._counting(getattr(client, name)))

    def _counting(self, method):
        def call(*args, **kwargs):
            self.count += 1
            return method(*args, **kwargs)
        return call

    def stop(self):
        for name in ("gather", "scatter"):
            self.client.__dict__.pop(name, None)  # back to the class's methods


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
