"""Sparse coding side by side with scikit-learn on the DESIGN ``sparse-code`` problem.

``run(quick)`` returns rows (see :mod:`fastfactor.bench`): lasso (cd and the
'lasso_lars' problem), OMP, and one pass of online dictionary learning, each
against scikit-learn, plus 2-thread vs 1-thread rows.
"""
import time
import warnings

import numpy as np
import scipy.sparse

import fastfactor as ff

try:
    from sklearn import decomposition as skd
except ImportError:  # scikit-learn rows need scikit-learn
    skd = None

ALPHA = 0.05


def sparse_code_problem(n_samples=5000):
    """The DESIGN recipe: 512 unit-norm atoms of dim 256, codes 2% non-zero, 0.01 noise."""
    rng = np.random.default_rng(0)
    D = rng.normal(size=(512, 256))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    codes = scipy.sparse.random(5000, 512, density=0.02, random_state=1).toarray()
    Y = codes @ D + 0.01 * rng.normal(size=(5000, 256))
    return Y[:n_samples], D


def lasso_objective(Y, D, code, alpha=ALPHA):
    """Sum over signals of 0.5 ||y - c D||^2 + alpha ||c||_1."""
    R = Y - code @ D
    return 0.5 * float((R * R).sum()) + alpha * float(np.abs(code).sum())


def _best(func, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def run(quick=False):
    """The comparisons; ``quick`` uses 1000 signals and a short dictionary-learning run."""
    warnings.simplefilter("ignore")
    Y, D = sparse_code_problem(1000 if quick else 5000)
    repeat = 1 if quick else 2
    rows = []

    def encode(algorithm, n_threads, **kw):
        return lambda: ff.sparse_encode(Y, D, algorithm=algorithm, alpha=ALPHA,
                                        n_jobs=n_threads, **kw)

    cases = [("lasso_cd", {}), ("lasso_lars", {}), ("omp", {"n_nonzero_coefs": 10})]
    for algorithm, kw in cases:
        # 1 and 2 threads alternate, best of 5 each: a burst of noise on this
        # shared VM then hits both sides instead of deciding the ratio
        t1 = t2 = np.inf
        for _ in range(5 if not quick else 1):
            t1 = min(t1, _best(encode(algorithm, 1, **kw), 1)[0])
            seconds, code = _best(encode(algorithm, 2, **kw), 1)
            t2 = min(t2, seconds)
        what = f"sparse_encode {algorithm}" + (" (10 atoms)" if kw else "")
        rows.append(dict(problem="sparse-code", what=f"{what}: 2 threads vs 1", fastfactor_s=t2,
                         reference_s=t1, speedup=t1 / t2, note="reference = 1 thread"))
        if skd is None:
            continue
        sk_args = dict(alpha=ALPHA) if algorithm != "omp" else dict(n_nonzero_coefs=10)
        t_sk, sk_code = _best(lambda: skd.sparse_encode(Y, D, algorithm=algorithm, **sk_args),
                              repeat)
        if algorithm == "omp":
            note = (f"same support {bool(((sk_code != 0) == (code != 0)).all())}, max coef "
                    f"diff {np.abs(sk_code - code).max():.1e}")
        else:
            f_sk, f_ff = lasso_objective(Y, D, sk_code), lasso_objective(Y, D, code)
            note = f"objective {f_ff:.6g} vs {f_sk:.6g} (rel. diff {abs(f_ff - f_sk) / f_sk:.1e})"
        rows.append(dict(problem="sparse-code", what=what, fastfactor_s=t2, sklearn_s=t_sk,
                         speedup=t_sk / t2, note=note))
    if skd is not None:
        X_dl = Y[:768] if quick else Y
        kw = dict(n_components=512, alpha=ALPHA, batch_size=256, max_iter=1,
                  fit_algorithm="cd", random_state=0, tol=0.0, max_no_improvement=None)
        start = time.perf_counter()
        sk = skd.MiniBatchDictionaryLearning(**kw).fit(X_dl)
        t_sk = time.perf_counter() - start
        start = time.perf_counter()
        ours = ff.MiniBatchDictionaryLearning(n_jobs=2, **kw).fit(X_dl)
        t_ff = time.perf_counter() - start
        probe = Y[:500]
        q = {name: lasso_objective(probe, comp, ff.sparse_encode(probe, comp,
                                                                 algorithm="lasso_cd",
                                                                 alpha=ALPHA))
             for name, comp in (("sklearn", sk.components_), ("ours", ours.components_))}
        rows.append(dict(problem="sparse-code",
                         what=f"MiniBatchDictionaryLearning (cd), 1 pass of {len(X_dl)} signals",
                         fastfactor_s=t_ff, sklearn_s=t_sk, speedup=t_sk / t_ff,
                         note=f"probe objective {q['ours']:.2f} vs {q['sklearn']:.2f}"))
    return rows
