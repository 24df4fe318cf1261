"""Side-by-side timings of fastfactor and scikit-learn on the DESIGN `sparse-code` problem.

Runs, in one process and one after the other (so that both see the same
machine load):

* sparse coding: lasso_cd (same objective checked), lasso_lars (scikit-learn
  runs LARS, fastfactor solves the same lasso by coordinate descent), omp with
  10 atoms (same support checked);
* online dictionary learning: MiniBatchDictionaryLearning with the same
  parameters and the same number of passes (early stopping off);
* fastfactor with 1 thread and with 2 threads.

Usage::

    python benchmarks/compare_sparse.py [--repeat 3] [--quick] [--out benchmarks/results]

Writes a markdown table to stdout and a JSON file to ``--out``. Times are the
best of ``--repeat`` runs; absolute times drift on shared machines, the ratios
measured side by side are what to compare.
"""
import argparse
import json
import os
import platform
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import fastfactor as ff
from fastfactor.bench.sparse import lasso_objective, sparse_code_problem


def best_time(func, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="1000 signals and a 3-batch dictionary-learning run")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    parser.add_argument("--skip-dl", action="store_true", help="skip dictionary learning")
    parser.add_argument("--dl-only", action="store_true", help="only dictionary learning")
    parser.add_argument("--dl-algorithms", default="cd,lars",
                        help="fit_algorithm values to compare (comma-separated)")
    args = parser.parse_args(argv)

    import sklearn
    from sklearn import decomposition as skd

    warnings.simplefilter("ignore")
    Y, D = sparse_code_problem(1000 if args.quick else 5000)
    alpha = 0.05
    rows = []

    def add(task, sk_s, ff1_s, ff2_s, note):
        rows.append(dict(task=task, sklearn_s=sk_s, ff_1thread_s=ff1_s, ff_2threads_s=ff2_s,
                         speedup_vs_sklearn=sk_s / ff2_s, threads_2_vs_1=ff1_s / ff2_s,
                         note=note))
        print(f"  {task}: sklearn {sk_s:.3f}s, fastfactor 1 thr {ff1_s:.3f}s, 2 thr "
              f"{ff2_s:.3f}s -> {sk_s / ff2_s:.1f}x, 2 vs 1 thread {ff1_s / ff2_s:.2f}x; "
              f"{note}", flush=True)

    def ff_encode(algorithm, n_threads, **kw):
        return lambda: ff.sparse_encode(Y, D, algorithm=algorithm, alpha=alpha,
                                        n_jobs=n_threads, **kw)

    # scikit-learn runs serially (n_jobs=None); its BLAS may use both cores.
    for algorithm in () if args.dl_only else ("lasso_cd", "lasso_lars"):
        sk_s, sk_code = best_time(lambda: skd.sparse_encode(Y, D, algorithm=algorithm,
                                                            alpha=alpha), args.repeat)
        ff1_s, _ = best_time(ff_encode(algorithm, 1), args.repeat)
        ff2_s, ff_code = best_time(ff_encode(algorithm, 2), args.repeat)
        f_sk, f_ff = lasso_objective(Y, D, sk_code, alpha), lasso_objective(Y, D, ff_code,
                                                                             alpha)
        add(f"sparse_encode {algorithm}", sk_s, ff1_s, ff2_s,
            f"objective rel. diff {abs(f_ff - f_sk) / f_sk:.1e}")
    if not args.dl_only:
        sk_s, sk_code = best_time(lambda: skd.sparse_encode(Y, D, algorithm="omp",
                                                            n_nonzero_coefs=10), args.repeat)
        ff1_s, _ = best_time(ff_encode("omp", 1, n_nonzero_coefs=10), args.repeat)
        ff2_s, ff_code = best_time(ff_encode("omp", 2, n_nonzero_coefs=10), args.repeat)
        add("sparse_encode omp (10 atoms)", sk_s, ff1_s, ff2_s,
            f"same support: {bool(((sk_code != 0) == (ff_code != 0)).all())}, max coef "
            f"diff {np.abs(sk_code - ff_code).max():.1e}")
        ff1_s, _ = best_time(ff_encode("fista", 1), 1)
        ff2_s, ff_code = best_time(ff_encode("fista", 2), 1)
        sk_cd = skd.sparse_encode(Y, D, algorithm="lasso_cd", alpha=alpha)
        f_sk = lasso_objective(Y, D, sk_cd, alpha)
        f_ff = lasso_objective(Y, D, ff_code, alpha)
        add("sparse_encode fista (vs sklearn lasso_cd)", rows[0]["sklearn_s"], ff1_s, ff2_s,
            f"objective rel. diff {abs(f_ff - f_sk) / f_sk:.1e}")

    if not args.skip_dl:
        n_passes = 1
        X_dl = Y[:768] if args.quick else Y
        for fit_algorithm in args.dl_algorithms.split(","):
            kw = dict(n_components=512, alpha=alpha, batch_size=256, max_iter=n_passes,
                      fit_algorithm=fit_algorithm, random_state=0, tol=0.0,
                      max_no_improvement=None)
            start = time.perf_counter()
            sk = skd.MiniBatchDictionaryLearning(**kw).fit(X_dl)
            sk_s = time.perf_counter() - start
            times = {}
            for nt in (1, 2):
                start = time.perf_counter()
                est = ff.MiniBatchDictionaryLearning(n_jobs=nt, **kw).fit(X_dl)
                times[nt] = time.perf_counter() - start
            # quality: lasso objective of the learned dictionaries on 500 signals
            probe = Y[:500]
            q = {}
            for name, comp in (("sklearn", sk.components_), ("fastfactor", est.components_)):
                c = ff.sparse_encode(probe, comp, algorithm="lasso_cd", alpha=alpha,
                                     check_input=False)
                q[name] = lasso_objective(probe, comp, c, alpha)
            add(f"MiniBatchDictionaryLearning fit_algorithm={fit_algorithm!r} "
                f"({n_passes} pass, {sk.n_steps_} batches)", sk_s, times[1], times[2],
                f"probe objective sklearn {q['sklearn']:.2f} vs fastfactor "
                f"{q['fastfactor']:.2f}")

    print()
    print(f"| task | scikit-learn {sklearn.__version__} (s) | fastfactor 1 thread (s) | "
          "fastfactor 2 threads (s) | speed-up vs scikit-learn | 2 vs 1 thread | check |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['task']} | {r['sklearn_s']:.3f} | {r['ff_1thread_s']:.3f} | "
              f"{r['ff_2threads_s']:.3f} | {r['speedup_vs_sklearn']:.1f}x | "
              f"{r['threads_2_vs_1']:.2f}x | {r['note']} |")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "compare_sparse.json")
    with open(path, "w") as f:
        json.dump(dict(machine=platform.platform(), cpus=os.cpu_count(),
                       load_average=os.getloadavg(), quick=args.quick, rows=rows), f,
                  indent=2)
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    with threadpool_limits(None):
        main()
