"""Overhead of a distributed fit: a 2-worker LocalCluster against the in-process fit.

Same data, same initial factors (NMF) or random state (truncated SVD,
Gaussian mixture), same total threads (two single-threaded worker processes
vs one process with two threads). Each row splits the distributed time into
the time the tasks spend computing (measured inside the tasks by dask) and
the rest (scheduling, transfers, uneven blocks), gives the CPU time of the
workers and of the client (with the LocalCluster's scheduler), and counts
the client's blocking round trips to the cluster (``Client.gather``/
``scatter`` calls), per iteration for NMF and GMM. Skipped when
dask/distributed are not installed.
"""
import importlib
import time
import warnings

import numpy as np
import threadpoolctl

import fastfactor as ff
from fastfactor import datasets
from fastfactor.nmf import initialize_nmf


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

            cmp = _Comparison(client, local_fit, dask_fit, n_iter)
            local, dist = cmp.models
            same = np.allclose(dist.components_, local.components_, rtol=1e-8,
                               atol=1e-10 * local.components_.max())
            rows.append(cmp.row(problem, f"NMF {solver}, {n_iter} it.", f"same model {same}"))
        # a rank inside the data's 32 strong directions: well separated singular
        # values, so the components themselves can be compared
        rows.append(_svd_row(client, X, Xd, problem, rank=8 if quick else 16))
        del X, Xd  # the workers' memory, for the mixture's data
        rows += _gmm_rows(client, da, quick)
    return rows


def _gmm_rows(client, da, quick):
    """GMM EM, diag and full, on 16 blobs of 32 features: 1,000,000 rows (256 MB)."""
    import distributed

    X = datasets.make_gaussian_blobs(3125 if quick else 62500, n_features=32, n_blobs=16)
    Xd = da.from_array(X, chunks=(X.shape[0] // 8, X.shape[1])).persist()
    distributed.wait(Xd)
    problem = f"dask gmm {X.shape[0]}x{X.shape[1]} ({X.nbytes / 1e6:.0f} MB)"
    rows = []
    for cov, n_iter in (("diag", 20), ("full", 10)):
        n_iter = 4 if quick else n_iter
        params = dict(n_components=16, covariance_type=cov, tol=0,
                      init_params="random_from_data", random_state=0)

        def local_fit(iters, params=params):
            with threadpoolctl.threadpool_limits(2):
                return ff.GaussianMixture(n_threads=2, max_iter=iters, **params).fit(X)

        def dask_fit(iters, params=params):
            return ff.GaussianMixture(n_threads=1, max_iter=iters, **params).fit(Xd)

        cmp = _Comparison(client, local_fit, dask_fit, n_iter)
        local, dist = cmp.models
        same = bool(np.allclose(dist.means_, local.means_, rtol=1e-8, atol=1e-10)
                    and abs(dist.lower_bound_ / local.lower_bound_ - 1) < 1e-10)
        rows.append(cmp.row(problem, f"GaussianMixture {cov}, 16 components, {n_iter} EM it.",
                            f"same model {same}"))
    return rows


class _Comparison:
    """In-process and distributed fits of ``n_iter`` and ``n_iter // 2`` iterations.

    One iteration is the difference of the two lengths (what every fit does
    once, checks, initial and final passes, is left out), in the best of
    ``repeats`` alternating runs of each side. The distributed iteration is
    split into the tasks' compute time (the mean over the two workers, from
    dask's task stream), the rest (waiting: scheduler hops, transfers,
    uneven blocks), and the CPU time each process spent on it.
    """

    def __init__(self, client, local_fit, dask_fit, n_iter, repeats=2):
        self.n_iter, half = n_iter, n_iter // 2
        best = {}
        for _ in range(repeats):
            for name, fn in (("local", local_fit), ("dask", dask_fit)):
                for iters in (n_iter, half):
                    m = _measured(client, fn, iters) if name == "dask" else _Measure(fn, iters)
                    if (name, iters) not in best or m.seconds < best[name, iters].seconds:
                        best[name, iters] = m
        self.local, self.dist = best["local", n_iter], best["dask", n_iter]
        self.models = self.local.result, self.dist.result
        steps = n_iter - half
        full, short = best["dask", n_iter], best["dask", half]
        self.per_it = {key: (getattr(full, key) - getattr(short, key)) / steps
                       for key in ("seconds", "busy", "cpu_client", "cpu_workers", "waits")}
        self.per_it["local"] = (best["local", n_iter].seconds
                                - best["local", half].seconds) / steps

    def row(self, problem, what, detail):
        it = self.per_it
        t_it, t_local = it["seconds"], it["local"]
        wait = t_it - it["busy"]
        return _row(problem, what, self.dist.seconds, self.local.seconds, self.dist.busy,
                    f"one iteration {1e3 * t_it:.0f} ms vs {1e3 * t_local:.0f} ms "
                    f"({t_it / t_local:.2f}x): tasks compute {1e3 * it['busy']:.0f} ms, "
                    f"waiting {1e3 * wait:.0f} ms (scheduler hops, transfers, uneven "
                    f"blocks); CPU per iteration {1e3 * it['cpu_workers'] / 2:.0f} ms per "
                    f"worker, {1e3 * it['cpu_client']:.0f} ms client + scheduler; "
                    f"{it['waits']:.2f} round trips per iteration ({self.dist.waits} in all); "
                    f"{detail}")


class _Measure:
    """Wall time and result of ``fn(*args)`` in this process."""

    def __init__(self, fn, *args):
        start = time.perf_counter()
        self.result = fn(*args)
        self.seconds = time.perf_counter() - start


def _svd_row(client, X, Xd, problem, rank):
    params = dict(n_components=rank, random_state=0)

    def local_fit():
        with threadpoolctl.threadpool_limits(2):
            return ff.TruncatedSVD(**params).fit(X)

    local = _Measure(local_fit)
    dist = _measured(client, lambda: ff.TruncatedSVD(**params).fit(Xd))
    ds = np.max(np.abs(dist.result.singular_values_ / local.result.singular_values_ - 1))
    dv = np.max(np.abs(dist.result.components_ - local.result.components_))
    return _row(problem, f"TruncatedSVD rank {rank}", dist.seconds, local.seconds, dist.busy,
                f"{dist.waits} round trips; tasks compute {dist.busy:.2f} s of "
                f"{dist.seconds:.2f} s; singular values equal to {ds:.0e}, components to "
                f"{dv:.0e} (float32 power iterations)")


def _row(problem, what, t_dist, t_local, busy, detail):
    return dict(problem=problem, what=f"{what}: 2-worker LocalCluster vs in-process",
                fastfactor_s=t_dist, reference_s=t_local, speedup=t_local / t_dist,
                note=f"slowdown {t_dist / t_local:.2f}x (target <= 1.3x); {detail}")


def _measured(client, fn, *args):
    """A :class:`_Measure` of ``fn(*args)`` with the cluster's side of it.

    ``busy``: task compute seconds per worker (two run in parallel);
    ``waits``: the client's blocking calls; ``cpu_client``: CPU seconds of
    this process (with a LocalCluster the scheduler runs in it too);
    ``cpu_workers``: CPU seconds of the worker processes, summed.
    """
    waits = _WaitCounter(client)
    compute = _TaskTime(client)
    cpu_workers = sum(client.run(time.process_time).values())
    cpu_client = time.process_time()
    try:
        out = _Measure(fn, *args)
    finally:
        waits.stop()
    out.cpu_client = time.process_time() - cpu_client
    out.cpu_workers = sum(client.run(time.process_time).values()) - cpu_workers
    out.busy, out.waits = compute.seconds() / 2, waits.count
    return out


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
