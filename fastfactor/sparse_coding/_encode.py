"""Sparse coding against a fixed dictionary: :func:`sparse_encode` and its solvers.

Every coding algorithm works from two BLAS-3 products computed once per
call, ``G = D @ D.T`` (the Gram matrix of the atoms) and ``XD = X @ D.T``
(the correlations of the signals with the atoms); the per-signal work runs
in the compiled kernels of :mod:`fastfactor.kernels`, one signal per thread.

The lasso problem solved for each signal ``x`` (row of X) is scikit-learn's::

    min_c  0.5 * ||x - c @ D||^2 + alpha * ||c||_1

(scikit-learn writes it as ``Lasso(alpha=alpha / n_features)`` on the
transposed problem, whose objective is the one above divided by
``n_features``.)

``algorithm='lasso_lars'`` solves the same lasso problem by the
coordinate-descent kernel first, to a duality gap of ``1e-10 * ||x||^2``
(tighter than ``lasso_cd``'s ``1e-8``), so it reaches the LARS solution's
objective, not LARS's exact path arithmetic. The few signals the descent
leaves short of that gap within ``max_iter`` sweeps (highly correlated,
overcomplete dictionaries at small ``alpha``) are then solved exactly by the
LARS homotopy (:func:`._lars.lasso_lars_gram`); like scikit-learn's LARS,
it emits no ConvergenceWarning.

``algorithm='lars'`` is least angle regression limited to
``n_nonzero_coefs`` steps, scikit-learn's path step for step (see
:mod:`._lars`).
"""
import warnings

import numpy as np
import scipy.linalg

from .. import kernels
from .._utils.dask import is_dask_array
from .._utils.threads import effective_n_threads, resolve_n_threads, single_threaded_blas
from .._utils.validation import check_array
from ..exceptions import ConvergenceWarning
from ._lars import lar_gram, lasso_lars_gram
from ._validation import check_dictionary, check_sparse_coding

# duality-gap tolerances (relative to ||x||^2) of the lasso solvers
_TOL_LASSO_CD = 1e-8        # scikit-learn's sparse_encode value
_TOL_LASSO_LARS = 1e-10     # lasso_lars is solved by CD: go closer to the exact solution


def thread_count(n_threads, n_jobs):
    """The threads the kernels run on, from either name of the setting.

    ``n_jobs`` (scikit-learn's name) and ``n_threads`` (fastfactor's) are one
    setting; both given with different values is a ValueError.
    """
    return effective_n_threads(resolve_n_threads(n_threads, n_jobs))


def _correlations(X, D, cov, n_threads=None):
    """XD = X @ D.T, C-contiguous, or the user's cov (n_components, n_samples) transposed."""
    if cov is not None:
        cov = np.asarray(cov, dtype=X.dtype)
        if cov.shape != (D.shape[0], X.shape[0]):
            raise ValueError(f"cov must have shape (n_components, n_samples) = "
                             f"{(D.shape[0], X.shape[0])}, got {cov.shape}.")
        return np.ascontiguousarray(cov.T)
    return kernels.dense_matmul(X, np.ascontiguousarray(D.T), n_threads=n_threads)


def _gram(D, gram, n_threads=None):
    if gram is not None:
        gram = np.ascontiguousarray(gram, dtype=D.dtype)
        k = D.shape[0]
        if gram.shape != (k, k):
            raise ValueError(f"gram must have shape (n_components, n_components) = "
                             f"{(k, k)}, got {gram.shape}.")
        return gram
    return kernels.dense_matmul(D, np.ascontiguousarray(D.T), n_threads=n_threads)


def _lasso_gaps(code, G, XD, x_sqnorms, alpha, positive, n_threads=None):
    """Per-signal duality gaps of the lasso (the kernel's formula, vectorized)."""
    GC = kernels.dense_matmul(code, G, n_threads=n_threads)  # G is symmetric
    R = XD - GC
    qc = np.einsum("ij,ij->i", code, XD, dtype=np.float64)
    R2 = x_sqnorms + np.einsum("ij,ij->i", code, GC, dtype=np.float64) - 2 * qc
    dual_norm = (R.max(axis=1) if positive else np.abs(R).max(axis=1)).astype(np.float64)
    scale = np.ones_like(dual_norm)
    big = dual_norm > alpha
    scale[big] = alpha / dual_norm[big]
    primal = 0.5 * R2 + alpha * np.abs(code).sum(axis=1, dtype=np.float64)
    return primal - (-0.5 * scale ** 2 * R2 + scale * (x_sqnorms - qc))


def _fista(G, XD, x_sqnorms, alpha, init, max_iter, positive, n_threads):
    """Batched FISTA with adaptive restart: thread-split GEMMs, the prox step in Cython.

    Every ten iterations the duality gap of each signal is computed (one
    more GEMM) and signals with gap <= 1e-8 * ||x||^2 (lasso_cd's rule)
    leave the batch, so the GEMMs shrink as the batch converges. Runs with
    BLAS at one thread (see :func:`_encode`): the GEMMs are split over the
    OpenMP threads, so no BLAS worker spins while the prox step runs.
    """
    n, k = XD.shape
    L = float(scipy.linalg.eigvalsh(G.astype(np.float64), subset_by_index=[k - 1, k - 1])[0])
    result = np.zeros_like(XD) if init is None else np.array(init, dtype=XD.dtype, order="C")
    if L <= 0:  # all-zero dictionary
        return np.zeros_like(XD)
    if positive:
        np.maximum(result, 0, out=result)
    rows = np.arange(n)
    code, xd, y2 = result.copy(), XD, x_sqnorms
    momentum, t = code.copy(), np.ones(n)
    for it in range(max_iter):
        grad = kernels.dense_matmul(momentum, G, n_threads=n_threads)  # G is symmetric
        grad -= xd
        kernels.fista_step(code, momentum, grad, t, 1.0 / L, alpha, positive=positive,
                           n_threads=n_threads)
        if it % 10 == 9:
            gaps = _lasso_gaps(code, G, xd, y2, alpha, positive, n_threads)
            done = gaps <= _TOL_LASSO_CD * y2
            if done.all():
                break
            if done.any():
                result[rows[done]] = code[done]
                keep = ~done
                rows, code, momentum = rows[keep], code[keep], momentum[keep]
                t, xd, y2 = t[keep], XD[rows], x_sqnorms[rows]
    result[rows] = code
    return result


def _encode(X, D, **params):
    """Sparse coding on validated, C-contiguous X and D of the same dtype.

    The products are split over the OpenMP threads with BLAS kept at one
    thread: a multi-threaded BLAS product leaves its worker spinning for a
    while, and that worker took the second core from the kernel that
    followed (the encode ran 1.3-1.5x faster on 2 threads instead of 1.8x).
    """
    with single_threaded_blas():
        return _encode_one_pool(X, D, **params)


class _Unconverged:
    """Signals whose lasso did not converge, tallied over the many encodes of a fit.

    A dictionary fit encodes every mini-batch (or the whole X every
    iteration); one warning per encode flooded the terminal of long fits, so
    the fit passes a tally to :func:`_encode` and warns once at its end.
    """

    def __init__(self):
        self.signals = 0
        self.encodes = 0
        self.max_iter = None

    def add(self, n_bad, max_iter):
        self.signals += n_bad
        self.encodes += 1
        self.max_iter = max_iter

    def warn(self, what):
        if self.signals:
            warnings.warn(
                f"{what}: the sparse code did not converge for {self.signals} signals in "
                f"{self.encodes} encodes within transform_max_iter={self.max_iter} sweeps; "
                "you might want to increase transform_max_iter.", ConvergenceWarning)


def _encode_one_pool(X, D, *, algorithm, alpha, n_nonzero_coefs, init=None, max_iter=1000,
                     positive=False, n_threads=None, gram=None, cov=None, unconverged=None):
    n_samples = X.shape[0]
    n_components = D.shape[0]
    if n_samples == 0 or n_components == 0:
        return np.zeros((n_samples, n_components), dtype=X.dtype)
    XD = _correlations(X, D, cov, n_threads)
    if algorithm == "threshold":
        return kernels.soft_threshold(XD, alpha, positive=positive, n_threads=n_threads)
    G = _gram(D, gram, n_threads)
    if algorithm == "omp":
        code, _ = kernels.omp_gram(G, XD, n_nonzero_coefs, n_threads=n_threads)
        return code
    if algorithm == "lars":
        return lar_gram(G, XD, n_nonzero_coefs, X.shape[1], X.dtype)
    if init is not None:
        init = np.asarray(init)
        if init.shape != (n_samples, n_components):
            raise ValueError(f"init must have shape (n_samples, n_components) = "
                             f"{(n_samples, n_components)}, got {init.shape}.")
    x_sqnorms = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    if algorithm == "fista":
        return _fista(G, XD, x_sqnorms, alpha, init, max_iter, positive, n_threads)
    # lasso_cd and lasso_lars: coordinate descent on the Gram matrix
    tol = _TOL_LASSO_LARS if algorithm == "lasso_lars" else _TOL_LASSO_CD
    code = (np.zeros((n_samples, n_components), dtype=X.dtype) if init is None
            else np.array(init, dtype=X.dtype, order="C"))
    if positive:
        np.maximum(code, 0, out=code)
    _, gaps = kernels.lasso_cd_gram(code, G, XD, x_sqnorms, alpha, max_iter=max_iter,
                                    tol=tol, positive=positive, return_info=True,
                                    n_threads=n_threads)
    bad = gaps > tol * x_sqnorms
    if algorithm == "lasso_lars":
        if bad.any():
            _lasso_lars_exact(code, np.flatnonzero(bad), G, XD, alpha, positive, max_iter)
        return code
    if max_iter > 0 and bad.any() and unconverged is not None:
        unconverged.add(int(bad.sum()), max_iter)
    elif max_iter > 0 and bad.any():
        worst = int(np.argmax(gaps - tol * x_sqnorms))
        warnings.warn(
            f"Objective did not converge for {int(bad.sum())} of {n_samples} signals "
            f"within max_iter={max_iter} sweeps (largest duality gap {gaps[worst]:.3e}, "
            f"tolerance {tol * x_sqnorms[worst]:.3e}). You might want to increase max_iter.",
            ConvergenceWarning,
        )
    return code


def _lasso_lars_exact(code, rows, G, XD, alpha, positive, max_steps):
    """Replace, in place, the codes of ``rows`` by their exact LARS-homotopy solutions.

    The signals the coordinate descent left short of lasso_lars's gap (hard,
    highly correlated dictionaries); scikit-learn's LARS solves them
    exactly and warns nothing, so these are solved exactly too. A path
    solution is kept only where its objective is at least as good as the
    descent's (compared without the common ``0.5 * ||x||^2``). Like
    scikit-learn's ``LassoLars(max_iter=...)``, the path takes at most
    ``max_steps`` pieces.
    """
    exact = lasso_lars_gram(G, XD, rows, alpha, positive, max_steps)
    G64 = np.asarray(G, dtype=np.float64)
    XD64 = np.asarray(XD[rows], dtype=np.float64)

    def objective(c):
        return (0.5 * np.einsum("ij,ij->i", c @ G64, c) - np.einsum("ij,ij->i", c, XD64)
                + alpha * np.abs(c).sum(axis=1))

    better = objective(exact) <= objective(code[rows].astype(np.float64))
    code[rows[better]] = exact[better]


def _map_row_blocks(X, func, n_out, dtype=None):
    """Apply ``func`` to each row block of a dask array (whole rows), lazily.

    ``func`` returns ``n_out`` columns of ``dtype`` (default: X's).
    """
    from .._utils.dask import prepare

    X, _ = prepare(X)
    return X.map_blocks(lambda block: func(np.asarray(block)),
                        dtype=X.dtype if dtype is None else dtype,
                        chunks=(X.chunks[0], (n_out,)))


def sparse_encode(X, dictionary, *, gram=None, cov=None, algorithm="lasso_lars",
                  n_nonzero_coefs=None, alpha=None, copy_cov=True, init=None,
                  max_iter=1000, n_jobs=None, n_threads=None, check_input=True, verbose=0,
                  positive=False):
    """Sparse coding: find sparse ``code`` with ``X ~= code @ dictionary``.

    A drop-in for :func:`sklearn.decomposition.sparse_encode`, computed by
    compiled, multi-threaded kernels (one signal per thread).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data; float32 stays float32.
    dictionary : array-like of shape (n_components, n_features)
        The atoms, one per row (normalized rows are assumed by some algorithms).
    gram : array-like of shape (n_components, n_components), optional
        Precomputed ``dictionary @ dictionary.T``.
    cov : array-like of shape (n_components, n_samples), optional
        Precomputed ``dictionary @ X.T``.
    algorithm : {'lasso_lars', 'lasso_cd', 'lars', 'omp', 'threshold', 'fista'}, \
            default='lasso_lars'
        * ``'lasso_cd'``: the lasso by coordinate descent on the Gram matrix,
          scikit-learn's stopping rule (duality gap <= 1e-8 * ||x||^2).
        * ``'lasso_lars'``: the same lasso problem; solved here by the same
          coordinate-descent kernel to a duality gap of 1e-10 * ||x||^2, and
          by the exact LARS homotopy for the signals the descent leaves
          short of it (same objective, not LARS's arithmetic).
        * ``'lars'``: least angle regression stopped after
          ``n_nonzero_coefs`` steps (scikit-learn's path; not with ``positive``).
        * ``'omp'``: orthogonal matching pursuit with ``n_nonzero_coefs`` atoms.
        * ``'threshold'``: soft-threshold of ``X @ dictionary.T`` at ``alpha``.
        * ``'fista'``: the lasso by accelerated proximal gradient with restart.
    n_nonzero_coefs : int, optional
        Atoms per signal for ``'omp'`` (in ``[1, n_components]``) and LAR
        steps for ``'lars'``; default ``min(max(n_features // 10, 1), n_components)``.
    alpha : float, optional
        L1 penalty (lasso algorithms and ``'fista'``), or threshold
        (``'threshold'``); default 1. Ignored by ``'omp'`` and ``'lars'`` (as in
        scikit-learn's implementation).
    copy_cov : bool, default=True
        Accepted for compatibility; ``cov`` is never modified.
    init : array-like of shape (n_samples, n_components), optional
        Warm start for the lasso algorithms and ``'fista'``.
    max_iter : int, default=1000
        Maximum sweeps (lasso) or iterations (fista) per signal.
    n_jobs, n_threads : int, optional
        Threads, under either name (scikit-learn's, fastfactor's; different
        values raise ValueError); default follows OpenMP (``OMP_NUM_THREADS``
        or threadpoolctl).
    check_input : bool, default=True
        Check X and dictionary for NaN/inf and their shapes (an atom of
        zero norm is allowed: its codes are 0).
    verbose : int, default=0
        Unused, for compatibility.
    positive : bool, default=False
        Non-negative codes (not with ``'omp'`` or ``'lars'``).

    Returns
    -------
    code : ndarray of shape (n_samples, n_components)
        In X's dtype.
    """
    n_threads = resolve_n_threads(n_threads, n_jobs)
    if is_dask_array(X):  # one task per row block; the codes stay with their block
        return _map_row_blocks(
            X, lambda block: sparse_encode(
                block, dictionary, gram=gram, cov=None, algorithm=algorithm,
                n_nonzero_coefs=n_nonzero_coefs, alpha=alpha, init=None,
                max_iter=max_iter, n_threads=n_threads, check_input=check_input,
                positive=positive),
            np.shape(dictionary)[0])
    whom = "sparse_encode"
    if check_input:
        X = check_array(X, name="X", whom=whom)
        D = check_dictionary(dictionary, X.shape[1], X.dtype, whom=whom)
    else:
        X = np.ascontiguousarray(X, dtype=np.float32 if np.asarray(X).dtype == np.float32
                                 else np.float64)
        D = np.ascontiguousarray(dictionary, dtype=X.dtype)
        if D.ndim != 2 or D.shape[1] != X.shape[1]:
            raise ValueError(
                f"Dictionary and X have different numbers of features: dictionary.shape: "
                f"{D.shape} X.shape: {X.shape}")
    alpha, n_nonzero_coefs = check_sparse_coding(
        algorithm, alpha=alpha, n_nonzero_coefs=n_nonzero_coefs, positive=positive,
        max_iter=max_iter, n_components=D.shape[0], n_features=X.shape[1], whom=whom)
    if init is not None:
        init = check_array(init, name="init", dtype=(X.dtype,), whom=whom,
                           ensure_min_samples=0, ensure_min_features=0)
    return _encode(X, D, algorithm=algorithm, alpha=alpha, n_nonzero_coefs=n_nonzero_coefs,
                   init=init, max_iter=max_iter, positive=positive,
                   n_threads=effective_n_threads(n_threads), gram=gram, cov=cov)
