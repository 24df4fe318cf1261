"""Side-by-side timings of fastfactor's truncated SVD against scikit-learn's.

Problems (names as in DESIGN.md):

* ``svd``: uniform 5000x3000 (``default_rng(0).random``), rank 50, defaults of
  both ``randomized_svd`` (n_iter='auto' = 7, 10 oversamples).
* ``svd-sparse``: ``scipy.sparse.random(20000, 5000, density=0.01, random_state=0)``, rank 50.
* ``svd-energy``: a low-rank-plus-noise matrix (4000x2000, 200 geometric
  singular values + noise); the rank keeping 90% of the energy
  (``n_components=0.9``) against a randomized SVD at that rank.

Every run is repeated with seeds 0..R-1, the libraries interleaved, and the
table reports the best and median times, their ratio and the mean
reconstruction error ||X - U S V^T||_F (relative to ||X||_F). Absolute times
drift on shared machines; the ratios measured in one run are what counts.

Usage: python benchmarks/compare_svd.py [--repeats R] [--threads T] [--quick] [--out FILE]
"""
import argparse
import os
import platform
import sys
import time

import numpy as np
import scipy.sparse as sp

from fastfactor import randomized_svd

try:
    from sklearn.utils.extmath import randomized_svd as sk_randomized_svd
except ImportError:  # the fastfactor-only rows still run
    sk_randomized_svd = None


def make_svd(quick):
    shape = (1000, 600) if quick else (5000, 3000)
    return np.random.default_rng(0).random(shape), 50


def make_sparse(quick):
    shape = (4000, 1000) if quick else (20000, 5000)
    return sp.random(*shape, density=0.01, format="csr", random_state=0), 50


def make_energy(quick):
    m, n, r = (1000, 500, 60) if quick else (4000, 2000, 200)
    rng = np.random.default_rng(0)
    L = np.linalg.qr(rng.standard_normal((m, r)))[0]
    R = np.linalg.qr(rng.standard_normal((n, r)))[0]
    s = np.geomspace(100.0, 1.0, r)
    return (L * s) @ R.T + 0.05 * rng.standard_normal((m, n))


def rel_error(X, U, S, Vt):
    """||X - U diag(S) Vt||_F / ||X||_F without forming a dense residual for sparse X."""
    sq = float(X.multiply(X).sum()) if sp.issparse(X) else float(np.vdot(X, X))
    XV = X @ Vt.T
    cross = float(np.einsum("ij,ij,j->", U, XV, S))
    G = (U.T @ U) * np.outer(S, S) * (Vt @ Vt.T)
    return np.sqrt(max(sq - 2 * cross + G.sum(), 0.0) / sq)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def compare_fixed(name, X, k, repeats):
    rows = {"fastfactor": [], "scikit-learn": []}
    for seed in range(repeats):
        runs = [("fastfactor", lambda: randomized_svd(X, k, random_state=seed))]
        if sk_randomized_svd is not None:
            runs.append(("scikit-learn", lambda: sk_randomized_svd(X, k, random_state=seed)))
        if seed % 2:  # alternate who goes first
            runs.reverse()
        for who, fn in runs:
            t, (U, S, Vt) = timed(fn)
            rows[who].append((t, rel_error(X, U, S, Vt)))
    return [(name, who, np.array(v)) for who, v in rows.items() if v]


def compare_energy(X, fraction, repeats):
    rows = {"fastfactor n_components=%.2f" % fraction: [], "fastfactor at that rank": [],
            "scikit-learn at that rank": []}
    labels = list(rows)
    ranks = []
    for seed in range(repeats):
        t, (U, S, Vt) = timed(lambda: randomized_svd(X, fraction, random_state=seed))
        rows[labels[0]].append((t, rel_error(X, U, S, Vt)))
        k = len(S)
        ranks.append(k)
        t, (U, S, Vt) = timed(lambda: randomized_svd(X, k, random_state=seed))
        rows[labels[1]].append((t, rel_error(X, U, S, Vt)))
        if sk_randomized_svd is not None:
            t, (U, S, Vt) = timed(lambda: sk_randomized_svd(X, k, random_state=seed))
            rows[labels[2]].append((t, rel_error(X, U, S, Vt)))
    s = np.linalg.svd(X, compute_uv=False)
    cum = np.cumsum(s ** 2) / np.sum(s ** 2)
    exact = int(np.searchsorted(cum, fraction)) + 1
    name = f"svd-energy (rank found {sorted(set(ranks))}, exact {exact})"
    return [(name, who, np.array(v)) for who, v in rows.items() if v], ranks, exact


def table(results):
    lines = ["| problem | library | best s | median s | best-time ratio | rel. error |",
             "|---|---|---|---|---|---|"]
    for name, group in results:
        ref = group[0][2][:, 0].min()
        for _, who, v in group:
            lines.append(f"| {name} | {who} | {v[:, 0].min():.3f} | {np.median(v[:, 0]):.3f} | "
                         f"{v[:, 0].min() / ref:.2f} | {v[:, 1].mean():.6f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--out", help="also write the markdown table to this file")
    parser.add_argument("--threads", type=int, default=None,
                        help="limit BLAS and OpenMP threads (both libraries) to this many")
    args = parser.parse_args(argv)
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(args.threads):
            return run(args)
    return run(args)


def run(args):

    results = []
    X, k = make_svd(args.quick)
    results.append(("svd", compare_fixed("svd", X, k, args.repeats)))
    X, k = make_sparse(args.quick)
    results.append(("svd-sparse", compare_fixed("svd-sparse", X, k, args.repeats)))
    X = make_energy(args.quick)
    group, ranks, exact = compare_energy(X, 0.9, args.repeats)
    results.append((group[0][0], group))

    header = (f"python {platform.python_version()}, numpy {np.__version__}, "
              f"{os.cpu_count()} CPUs, threads {args.threads or 'all'}, repeats {args.repeats}"
              f"{', quick' if args.quick else ''}")
    text = header + "\n\n" + table([(g[0][0], g) for _, g in results]) + "\n"
    print(text)
    for name, group in results:
        if len(group) > 1:
            best = {who: v[:, 0].min() for _, who, v in group}
            first, *others = list(best)
            for other in others:
                print(f"{name}: {other} / {first} best-time ratio = "
                      f"{best[other] / best[first]:.2f}")
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
