"""L1 sparse coding, dictionary learning and a sparse autoencoder.

Drop-ins for scikit-learn's ``sparse_encode``, ``SparseCoder``,
``DictionaryLearning`` and ``MiniBatchDictionaryLearning``, plus
``SparseAutoencoder``.

Every coding algorithm works from two BLAS-3 products computed once per
call, ``G = D @ D.T`` (the Gram matrix of the atoms) and ``XD = X @ D.T``
(the correlations of the signals with the atoms); the per-signal work runs
in the compiled kernels of :mod:`fastfactor.kernels`, one signal per thread.

The lasso problem solved for each signal ``x`` (row of X) is scikit-learn's::

    min_c  0.5 * ||x - c @ D||^2 + alpha * ||c||_1

(scikit-learn writes it as ``Lasso(alpha=alpha / n_features)`` on the
transposed problem, whose objective is the one above divided by
``n_features``.)

``algorithm='lasso_lars'`` does not run least-angle regression: it solves
the same lasso problem by the coordinate-descent kernel, to a duality gap
of ``1e-10 * ||x||^2`` (tighter than ``lasso_cd``'s ``1e-8``), so it reaches
the LARS solution's objective, not LARS's exact path arithmetic.
"""
import warnings

import numpy as np
import scipy.linalg

from .. import kernels
from .._utils.dask import is_dask_array
from .._base import BaseEstimator, TransformerMixin, check_is_fitted
from ..checkpoint import (CheckpointError, encode_rng_state, require_values, restore_rng,
                         restored_array)
from .._utils.threads import effective_n_threads, single_threaded_blas
from .._utils.validation import (
    check_array,
    check_code,
    check_dictionary,
    check_float,
    check_int,
    check_option,
    check_random_state,
    check_sparse_coding,
    validate_data,
)
from ..exceptions import ConvergenceWarning
from ..svd._svd import randomized_svd

__all__ = [
    "sparse_encode",
    "SparseCoder",
    "DictionaryLearning",
    "MiniBatchDictionaryLearning",
    "SparseAutoencoder",
]

# duality-gap tolerances (relative to ||x||^2) of the lasso solvers
_TOL_LASSO_CD = 1e-8        # scikit-learn's sparse_encode value
_TOL_LASSO_LARS = 1e-10     # lasso_lars is solved by CD: go closer to the exact solution


# ---------------------------------------------------------------------------
# sparse coding
# ---------------------------------------------------------------------------
def _n_threads(n_jobs):
    return effective_n_threads(n_jobs)


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


def _map_row_blocks(X, func, n_out):
    """Apply ``func`` to each row block of a dask array (whole rows), lazily."""
    from .._utils.dask import prepare

    X, _ = prepare(X)
    return X.map_blocks(lambda block: func(np.asarray(block)), dtype=X.dtype,
                        chunks=(X.chunks[0], (n_out,)))


def sparse_encode(X, dictionary, *, gram=None, cov=None, algorithm="lasso_lars",
                  n_nonzero_coefs=None, alpha=None, copy_cov=True, init=None,
                  max_iter=1000, n_jobs=None, check_input=True, verbose=0,
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
    algorithm : {'lasso_lars', 'lasso_cd', 'omp', 'threshold', 'fista'}, default='lasso_lars'
        * ``'lasso_cd'``: the lasso by coordinate descent on the Gram matrix,
          scikit-learn's stopping rule (duality gap <= 1e-8 * ||x||^2).
        * ``'lasso_lars'``: the same lasso problem; solved here by the same
          coordinate-descent kernel to a duality gap of 1e-10 * ||x||^2
          instead of by least-angle regression (same objective, not LARS's
          arithmetic).
        * ``'omp'``: orthogonal matching pursuit with ``n_nonzero_coefs`` atoms.
        * ``'threshold'``: soft-threshold of ``X @ dictionary.T`` at ``alpha``.
        * ``'fista'``: the lasso by accelerated proximal gradient with restart.
        scikit-learn's ``'lars'`` is not implemented.
    n_nonzero_coefs : int, optional
        Atoms per signal for ``'omp'``, in ``[1, n_components]``; default
        ``min(max(n_features // 10, 1), n_components)``.
    alpha : float, optional
        L1 penalty (lasso algorithms and ``'fista'``), or threshold
        (``'threshold'``); default 1. Ignored by ``'omp'`` (as in
        scikit-learn's implementation).
    copy_cov : bool, default=True
        Accepted for compatibility; ``cov`` is never modified.
    init : array-like of shape (n_samples, n_components), optional
        Warm start for the lasso algorithms and ``'fista'``.
    max_iter : int, default=1000
        Maximum sweeps (lasso) or iterations (fista) per signal.
    n_jobs : int, optional
        Threads; default follows OpenMP (``OMP_NUM_THREADS`` or threadpoolctl).
    check_input : bool, default=True
        Check X and dictionary for NaN/inf, shapes and zero-norm atoms.
    verbose : int, default=0
        Unused, for compatibility.
    positive : bool, default=False
        Non-negative codes (not with ``'omp'``).

    Returns
    -------
    code : ndarray of shape (n_samples, n_components)
        In X's dtype.
    """
    if is_dask_array(X):  # one task per row block; the codes stay with their block
        return _map_row_blocks(
            X, lambda block: sparse_encode(
                block, dictionary, gram=gram, cov=None, algorithm=algorithm,
                n_nonzero_coefs=n_nonzero_coefs, alpha=alpha, init=None,
                max_iter=max_iter, n_jobs=n_jobs, check_input=check_input, positive=positive),
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
                   n_threads=_n_threads(n_jobs), gram=gram, cov=cov)


# ---------------------------------------------------------------------------
# estimators sharing transform / inverse_transform
# ---------------------------------------------------------------------------
class _BaseSparseCoding(TransformerMixin):
    """transform / inverse_transform shared by SparseCoder and dictionary learning."""

    def _coding_params(self, n_components, n_features):
        alpha = self.transform_alpha
        if alpha is None:
            alpha = getattr(self, "alpha", None)
        alpha, n_nonzero = check_sparse_coding(
            self.transform_algorithm, alpha=alpha,
            n_nonzero_coefs=self.transform_n_nonzero_coefs, positive=self.positive_code,
            max_iter=self.transform_max_iter, n_components=n_components,
            n_features=n_features, whom=type(self).__name__, prefix="transform_")
        return alpha, n_nonzero

    def _transform(self, X, dictionary):
        alpha, n_nonzero = self._coding_params(*dictionary.shape)
        D = np.ascontiguousarray(dictionary, dtype=X.dtype)
        code = _encode(X, D, algorithm=self.transform_algorithm, alpha=alpha,
                       n_nonzero_coefs=n_nonzero, max_iter=self.transform_max_iter,
                       positive=self.positive_code, n_threads=_n_threads(self.n_jobs))
        if self.split_sign:
            # the positive and the negative parts side by side
            code = np.concatenate([np.maximum(code, 0), -np.minimum(code, 0)], axis=1)
        return code

    def _inverse_transform(self, code, dictionary):
        n_components = dictionary.shape[0] * (2 if self.split_sign else 1)
        code = check_code(code, n_components, np.asarray(dictionary).dtype,
                          whom=type(self).__name__)
        if self.split_sign:
            half = n_components // 2
            code = code[:, :half] - code[:, half:]
        return code @ np.asarray(dictionary, dtype=code.dtype)

    def transform(self, X):
        """Encode X as a sparse combination of the dictionary atoms.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            (``2 * n_components`` with ``split_sign=True``.)
        """
        check_is_fitted(self)
        if is_dask_array(X):
            return _map_row_blocks(X, self.transform, self._n_features_out)
        X = validate_data(self, X, reset=False)
        return self._transform(X, self.components_)

    def inverse_transform(self, X):
        """Decode: map codes back to the data space, ``X @ components_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        return self._inverse_transform(X, self.components_)

    @property
    def _n_features_out(self):
        return self.components_.shape[0] * (2 if self.split_sign else 1)

    def _update_tags(self, tags):
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]


class SparseCoder(_BaseSparseCoding, BaseEstimator):
    """Sparse coding against a fixed dictionary (drop-in for scikit-learn's).

    Parameters
    ----------
    dictionary : ndarray of shape (n_components, n_features)
        The atoms, one per row.
    transform_algorithm : {'lasso_lars', 'lasso_cd', 'omp', 'threshold', 'fista'}, default='omp'
        See :func:`sparse_encode`.
    transform_n_nonzero_coefs : int, optional
        Atoms per signal for ``'omp'``.
    transform_alpha : float, optional
        L1 penalty or threshold; default 1.
    split_sign : bool, default=False
        Return ``[max(code, 0), -min(code, 0)]`` side by side.
    n_jobs : int, optional
        Threads.
    positive_code : bool, default=False
        Non-negative codes.
    transform_max_iter : int, default=1000

    Attributes
    ----------
    n_components_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When X had string column names.
    """

    def __init__(self, dictionary, *, transform_algorithm="omp",
                 transform_n_nonzero_coefs=None, transform_alpha=None, split_sign=False,
                 n_jobs=None, positive_code=False, transform_max_iter=1000):
        self.dictionary = dictionary
        self.transform_algorithm = transform_algorithm
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.transform_alpha = transform_alpha
        self.split_sign = split_sign
        self.n_jobs = n_jobs
        self.positive_code = positive_code
        self.transform_max_iter = transform_max_iter

    def _checked_dictionary(self, X):
        return check_dictionary(self.dictionary, X.shape[1], X.dtype, whom="SparseCoder")

    def fit(self, X, y=None):
        """Only validate the parameters and the dictionary against X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self
        """
        X = validate_data(self, X, reset=True)
        D = self._checked_dictionary(X)
        self._coding_params(*D.shape)
        self.n_components_ = D.shape[0]
        return self

    def transform(self, X, y=None):
        """Encode X against the dictionary (no fit needed).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        ndarray of shape (n_samples, n_components)
        """
        if is_dask_array(X):
            return _map_row_blocks(X, self.transform, self._n_features_out)
        if hasattr(self, "n_features_in_"):
            X = validate_data(self, X, reset=False)
        else:
            X = check_array(X, whom="SparseCoder")
        return self._transform(X, self._checked_dictionary(X))

    def fit_transform(self, X, y=None, **fit_params):
        """Validate, then encode X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        ndarray of shape (n_samples, n_components)
        """
        return self.fit(X, y).transform(X)

    def inverse_transform(self, X):
        """Decode: ``X @ dictionary``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        return self._inverse_transform(X, np.asarray(self.dictionary))

    def __sklearn_is_fitted__(self):
        return True

    @property
    def _n_features_out(self):
        return np.asarray(self.dictionary).shape[0] * (2 if self.split_sign else 1)

    def _update_tags(self, tags):
        super()._update_tags(tags)
        tags.requires_fit = False


# ---------------------------------------------------------------------------
# dictionary learning
# ---------------------------------------------------------------------------
def _svd_flip_u(U, Vt):
    # scikit-learn's svd_flip(u_based_decision=True): largest |U[:, i]| positive
    signs = np.sign(U[np.argmax(np.abs(U), axis=0), np.arange(U.shape[1])])
    signs[signs == 0] = 1
    return U * signs, Vt * signs[:, None]


def _pad_rows(A, n_rows):
    if A.shape[0] >= n_rows:
        return A[:n_rows]
    return np.concatenate([A, np.zeros((n_rows - A.shape[0], A.shape[1]), dtype=A.dtype)])


def _update_dict(dictionary, Y, code, A, Bt, random_state, positive):
    """Block coordinate descent over the atoms, in place (scikit-learn's _update_dict).

    ``A = code.T @ code`` and ``Bt = code.T @ Y`` (the transpose of
    scikit-learn's B, so that its rows are contiguous).
    """
    n_samples = Y.shape[0]
    for k in range(dictionary.shape[0]):
        if A[k, k] > 1e-6:
            dictionary[k] += (Bt[k] - A[k] @ dictionary) / A[k, k]
        else:
            # the atom is (almost) never used: restart it from a random sample
            newd = Y[random_state.choice(n_samples)]
            noise_level = 0.01 * (newd.std() or 1)
            noise = random_state.normal(0, noise_level, size=len(newd))
            dictionary[k] = newd + noise
            code[:, k] = 0
        if positive:
            np.clip(dictionary[k], 0, None, out=dictionary[k])
        norm = np.sqrt(dictionary[k] @ dictionary[k])
        if norm > 1:
            dictionary[k] /= norm


def _check_dl_common(est, X):
    """Checks shared by both dictionary learners; returns n_components."""
    if est.n_components is None:
        n_components = X.shape[1]
    else:
        n_components = check_int(est.n_components, "n_components", min_value=1)
    check_float(est.alpha, "alpha", min_value=0.0)
    check_int(est.max_iter, "max_iter", min_value=0)
    check_option(est.fit_algorithm, "fit_algorithm", ("lars", "cd"))
    for flag in ("positive_code", "positive_dict", "split_sign"):
        if not isinstance(getattr(est, flag), (bool, np.bool_)):
            raise TypeError(f"{flag} must be a bool, got {getattr(est, flag)!r}.")
    est._coding_params(n_components, X.shape[1])
    return n_components


class DictionaryLearning(_BaseSparseCoding, BaseEstimator):
    """Dictionary learning (batch): drop-in for scikit-learn's.

    Solves ``min 0.5 ||X - U V||_F^2 + alpha ||U||_1`` over codes U and
    atoms V (rows with norm <= 1) by alternating sparse coding of all
    samples (the compiled lasso kernels, warm-started) with a block
    coordinate descent sweep over the atoms.

    Parameters
    ----------
    n_components : int, optional
        Atoms to learn; default n_features.
    alpha : float, default=1
        Sparsity penalty.
    max_iter : int, default=1000
    tol : float, default=1e-8
        Stop when the cost decreases by less than ``tol`` times the cost.
    fit_algorithm : {'lars', 'cd'}, default='lars'
        Lasso solver for the codes (``'lars'`` is solved by coordinate
        descent to a tighter gap, see :func:`sparse_encode`).
    transform_algorithm : {'lasso_lars', 'lasso_cd', 'omp', 'threshold', 'fista'}, default='omp'
    transform_n_nonzero_coefs : int, optional
    transform_alpha : float, optional
        Default: ``alpha``.
    n_jobs : int, optional
        Threads.
    code_init, dict_init : ndarray, optional
        Warm start (used only when both are given).
    callback : callable, optional
        Called every five iterations with the local variables.
    verbose : bool, default=False
    split_sign : bool, default=False
    random_state : int, RandomState or None
    positive_code, positive_dict : bool, default=False
    transform_max_iter : int, default=1000

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    error_ : list of float
        Cost after each iteration.
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    """

    def __init__(self, n_components=None, *, alpha=1, max_iter=1000, tol=1e-8,
                 fit_algorithm="lars", transform_algorithm="omp",
                 transform_n_nonzero_coefs=None, transform_alpha=None, n_jobs=None,
                 code_init=None, dict_init=None, callback=None, verbose=False,
                 split_sign=False, random_state=None, positive_code=False,
                 positive_dict=False, transform_max_iter=1000):
        self.n_components = n_components
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.fit_algorithm = fit_algorithm
        self.transform_algorithm = transform_algorithm
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.transform_alpha = transform_alpha
        self.n_jobs = n_jobs
        self.code_init = code_init
        self.dict_init = dict_init
        self.callback = callback
        self.verbose = verbose
        self.split_sign = split_sign
        self.random_state = random_state
        self.positive_code = positive_code
        self.positive_dict = positive_dict
        self.transform_max_iter = transform_max_iter

    def fit(self, X, y=None):
        """Learn the dictionary from X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self
        """
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        """Learn the dictionary from X and return the codes of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            The codes of the last iteration (``split_sign`` is not applied).
        """
        X = validate_data(self, X, reset=True)
        return self._fit_codes(X)

    def _fit_checkpointed(self, X, callback=None, resume=None):
        """``fit`` that reports its state after each iteration and can resume from it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        callback : callable, optional
            Called as ``callback(state)`` after every iteration that does not
            end the fit; ``state`` is a dict of arrays (``dictionary``,
            ``code``) and JSON-friendly values (``n_iter``, ``losses``, the
            random generator's state).
        resume : dict, optional
            Such a state: the fit continues exactly where it was taken.

        Returns
        -------
        self

        Notes
        -----
        Used by ``fastfactor fit --checkpoint/--resume`` and by
        :class:`fastfactor.checkpoint.Checkpointer`.
        """
        X = validate_data(self, X, reset=True)
        self._fit_codes(X, callback=callback, resume=resume)
        return self

    def _initial_factors(self, X, n_components):
        """Codes and atoms to start from: the user's, or the SVD of X."""
        if self.code_init is not None and self.dict_init is not None:
            code = check_array(self.code_init, name="code_init", dtype=(X.dtype,),
                               whom="DictionaryLearning")
            dictionary = check_dictionary(self.dict_init, X.shape[1], X.dtype,
                                          whom="DictionaryLearning", name="dict_init",
                                          allow_zero_atoms=True)
        else:
            U, S, Vt = scipy.linalg.svd(X, full_matrices=False)
            U, Vt = _svd_flip_u(U, Vt)
            code, dictionary = U, S[:, None] * Vt
        code = _pad_rows(code.T, n_components).T
        dictionary = np.array(_pad_rows(dictionary, n_components), dtype=X.dtype, order="C")
        return np.array(code, dtype=X.dtype, order="C"), dictionary

    def _fit_codes(self, X, callback=None, resume=None):
        """Alternate coding and atom updates on a validated X; returns the last codes."""
        n_components = _check_dl_common(self, X)
        tol = check_float(self.tol, "tol", min_value=0.0)
        alpha = float(self.alpha)
        method = "lasso_" + self.fit_algorithm
        n_threads = _n_threads(self.n_jobs)
        if resume is None:
            random_state = check_random_state(self.random_state)
            code, dictionary = self._initial_factors(X, n_components)
            errors, first = [], 0
        else:
            require_values(resume, ("n_iter", "losses", "rng_state"), type(self).__name__)
            first = _resumed_step(resume, self.max_iter, "iteration")
            code = restored_array(resume, "code", (X.shape[0], n_components), X.dtype)
            dictionary = restored_array(resume, "dictionary", (n_components, X.shape[1]),
                                        X.dtype)
            errors = [float(e) for e in resume["losses"]]
            random_state = restore_rng(resume["rng_state"])

        unconverged = _Unconverged()
        ii = first - 1
        for ii in range(first, self.max_iter):
            code = _encode(X, dictionary, algorithm=method, alpha=alpha,
                           n_nonzero_coefs=None, init=code,
                           max_iter=self.transform_max_iter,
                           positive=self.positive_code, n_threads=n_threads,
                           unconverged=unconverged)
            _update_dict(dictionary, X, code, code.T @ code, code.T @ X, random_state,
                         self.positive_dict)
            R = X - code @ dictionary
            cost = 0.5 * float(np.einsum("ij,ij->", R, R, dtype=np.float64)) + \
                alpha * float(np.abs(code).sum(dtype=np.float64))
            errors.append(cost)
            if self.verbose:
                print(f"Iteration {ii:3d}: cost {cost:.6g}")
            if ii > 0 and errors[-2] - errors[-1] < tol * errors[-1]:
                break
            if ii % 5 == 0 and self.callback is not None:
                self.callback(locals())
            if callback is not None:
                callback(dict(n_iter=ii + 1, dictionary=dictionary, code=code,
                              losses=errors, rng_state=encode_rng_state(random_state)))
        unconverged.warn(type(self).__name__)
        self.components_ = dictionary
        self.error_ = errors
        self.n_iter_ = ii + 1
        return code


def _optional_float(value):
    return None if value is None else float(value)


def _resumed_step(resume, n_total, unit):
    """The number of ``unit`` a resumed state has done, checked against ``n_total``."""
    done = int(resume["n_iter"])
    if not 0 <= done <= n_total:
        raise CheckpointError(f"the checkpoint is at {unit} {done}, outside this fit's "
                              f"0..{n_total}: it was made with other parameters")
    return done


class MiniBatchDictionaryLearning(_BaseSparseCoding, BaseEstimator):
    """Online (mini-batch) dictionary learning: drop-in for scikit-learn's.

    Each mini-batch is coded by the compiled lasso kernels, the sufficient
    statistics ``A = sum code.T @ code`` and ``B = sum code.T @ X`` are
    updated with scikit-learn's forgetting factor, and the atoms take one
    block-coordinate-descent sweep (Mairal et al., 2009).

    Parameters
    ----------
    n_components : int, optional
        Atoms to learn; default n_features.
    alpha : float, default=1
    max_iter : int, default=1000
        Passes over the data.
    fit_algorithm : {'lars', 'cd'}, default='lars'
        Lasso solver for the codes (see :func:`sparse_encode`).
    n_jobs : int, optional
        Threads.
    batch_size : int, default=256
    shuffle : bool, default=True
    dict_init : ndarray of shape (n_components, n_features), optional
    transform_algorithm : {'lasso_lars', 'lasso_cd', 'omp', 'threshold', 'fista'}, default='omp'
    transform_n_nonzero_coefs : int, optional
    transform_alpha : float, optional
        Default: ``alpha``.
    verbose : bool, default=False
    split_sign : bool, default=False
    random_state : int, RandomState or None
    positive_code, positive_dict : bool, default=False
    transform_max_iter : int, default=1000
    callback : callable, optional
    tol : float, default=1e-3
        Stop when the dictionary moves by less than this (Frobenius norm
        over n_components) in one step.
    max_no_improvement : int or None, default=10
        Stop after this many steps without improvement of the smoothed cost.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    n_iter_ : int
        Passes over the data.
    n_steps_ : int
        Mini-batches processed.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    """

    def __init__(self, n_components=None, *, alpha=1, max_iter=1000, fit_algorithm="lars",
                 n_jobs=None, batch_size=256, shuffle=True, dict_init=None,
                 transform_algorithm="omp", transform_n_nonzero_coefs=None,
                 transform_alpha=None, verbose=False, split_sign=False, random_state=None,
                 positive_code=False, positive_dict=False, transform_max_iter=1000,
                 callback=None, tol=1e-3, max_no_improvement=10):
        self.n_components = n_components
        self.alpha = alpha
        self.max_iter = max_iter
        self.fit_algorithm = fit_algorithm
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.dict_init = dict_init
        self.transform_algorithm = transform_algorithm
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.transform_alpha = transform_alpha
        self.verbose = verbose
        self.split_sign = split_sign
        self.random_state = random_state
        self.positive_code = positive_code
        self.positive_dict = positive_dict
        self.transform_max_iter = transform_max_iter
        self.callback = callback
        self.tol = tol
        self.max_no_improvement = max_no_improvement

    def _check_params(self, X):
        self._n_components = _check_dl_common(self, X)
        self._batch_size = min(check_int(self.batch_size, "batch_size", min_value=1),
                               X.shape[0])
        check_float(self.tol, "tol", min_value=0.0)
        check_int(self.max_no_improvement, "max_no_improvement", min_value=0,
                  allow_none=True)
        if not isinstance(self.shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be a bool, got {self.shuffle!r}.")

    def _initialize_dict(self, X, random_state):
        if self.dict_init is not None:
            dictionary = check_dictionary(self.dict_init, X.shape[1], X.dtype,
                                          whom=type(self).__name__, name="dict_init",
                                          allow_zero_atoms=True)
        else:
            rank = min(self._n_components, *X.shape)
            _, S, Vt = randomized_svd(X, rank, random_state=random_state)
            dictionary = S[:, None] * Vt
        return np.array(_pad_rows(dictionary, self._n_components), dtype=X.dtype, order="C")

    def _update_inner_stats(self, X, code, batch_size, step):
        if step < batch_size - 1:
            theta = (step + 1) * batch_size
        else:
            theta = batch_size ** 2 + step + 1 - batch_size
        beta = (theta + 1 - batch_size) / (theta + 1)
        n_threads = _n_threads(self.n_jobs)
        self._A *= beta
        self._A += kernels.dense_matmul(code, code, trans_a=True, n_threads=n_threads) \
            / batch_size
        self._Bt *= beta
        self._Bt += kernels.dense_matmul(code, X, trans_a=True, n_threads=n_threads) \
            / batch_size

    def _minibatch_step(self, X, dictionary, random_state, step, unconverged=None):
        # BLAS stays at one thread for the whole step, the big products being
        # split over the OpenMP threads: see _encode
        with single_threaded_blas():
            return self._minibatch_step_one_pool(X, dictionary, random_state, step,
                                                 unconverged)

    def _minibatch_step_one_pool(self, X, dictionary, random_state, step, unconverged):
        batch_size = X.shape[0]
        alpha = float(self.alpha)
        n_threads = _n_threads(self.n_jobs)
        code = _encode(X, dictionary, algorithm="lasso_" + self.fit_algorithm,
                       alpha=alpha, n_nonzero_coefs=None,
                       max_iter=self.transform_max_iter, positive=self.positive_code,
                       n_threads=n_threads, unconverged=unconverged)
        R = X - kernels.dense_matmul(code, dictionary, n_threads=n_threads)
        batch_cost = (0.5 * float(np.einsum("ij,ij->", R, R, dtype=np.float64))
                      + alpha * float(np.abs(code).sum(dtype=np.float64))) / batch_size
        self._update_inner_stats(X, code, batch_size, step)
        _update_dict(dictionary, X, code, self._A, self._Bt, random_state,
                     self.positive_dict)
        return batch_cost

    def _check_convergence(self, X, batch_cost, new_dict, old_dict, n_samples, step,
                           n_steps):
        batch_size = X.shape[0]
        step = step + 1
        if step <= min(100, n_samples / batch_size):
            if self.verbose:
                print(f"Minibatch step {step}/{n_steps}: mean batch cost: {batch_cost}")
            return False
        if self._ewa_cost is None:
            self._ewa_cost = batch_cost
        else:
            a = min(batch_size / (n_samples + 1), 1)
            self._ewa_cost = self._ewa_cost * (1 - a) + batch_cost * a
        if self.verbose:
            print(f"Minibatch step {step}/{n_steps}: mean batch cost: {batch_cost}, "
                  f"ewa cost: {self._ewa_cost}")
        dict_diff = np.linalg.norm(new_dict - old_dict) / self._n_components
        if self.tol > 0 and dict_diff <= self.tol:
            if self.verbose:
                print(f"Converged (small dictionary change) at step {step}/{n_steps}")
            return True
        if self._ewa_cost_min is None or self._ewa_cost < self._ewa_cost_min:
            self._no_improvement = 0
            self._ewa_cost_min = self._ewa_cost
        else:
            self._no_improvement += 1
        if (self.max_no_improvement is not None
                and self._no_improvement >= self.max_no_improvement):
            if self.verbose:
                print(f"Converged (lack of improvement in objective function) at step "
                      f"{step}/{n_steps}")
            return True
        return False

    def _init_stats(self, n_features, dtype):
        self._A = np.zeros((self._n_components, self._n_components), dtype=dtype)
        self._Bt = np.zeros((self._n_components, n_features), dtype=dtype)

    def fit(self, X, y=None):
        """Learn the dictionary from X by passes of mini-batches.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self
        """
        X = validate_data(self, X, reset=True)
        self._fit_steps(X)
        return self

    def _fit_checkpointed(self, X, callback=None, resume=None):
        """``fit`` that reports its state after each mini-batch and can resume from it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        callback : callable, optional
            Called as ``callback(state)`` after every mini-batch step that
            does not end the fit. ``state`` is a dict of arrays (the
            dictionary, the statistics ``A`` and ``Bt``, the sample order of
            the shuffled data) and JSON-friendly values (steps done as
            ``n_iter``, the random generator's state and the smoothed costs
            of the stopping rule).
        resume : dict, optional
            Such a state: the fit continues exactly where it was taken, to
            the same dictionary (bit for bit) as an uninterrupted fit.

        Returns
        -------
        self

        Notes
        -----
        One iteration here is one mini-batch step, not one pass over the
        data (``max_iter`` counts passes). Used by ``fastfactor fit dict
        --checkpoint/--resume`` and :class:`fastfactor.checkpoint.Checkpointer`.
        """
        X = validate_data(self, X, reset=True)
        self._fit_steps(X, callback=callback, resume=resume)
        return self

    def _start_fit(self, X):
        """Fresh fit state; returns the dictionary and the sample order (None: as given)."""
        self._random_state = check_random_state(self.random_state)
        dictionary = self._initialize_dict(X, self._random_state)
        # a permutation draws exactly what shuffling the rows in place draws,
        # and, unlike the shuffled copy, it is small enough to checkpoint
        order = self._random_state.permutation(X.shape[0]) if self.shuffle else None
        self._init_stats(X.shape[1], X.dtype)
        self._ewa_cost = None
        self._ewa_cost_min = None
        self._no_improvement = 0
        return dictionary, order

    def _restore_fit(self, X, resume):
        """The fit state of a checkpoint; returns the dictionary and the sample order."""
        k, (n_samples, n_features) = self._n_components, X.shape
        dictionary = restored_array(resume, "dictionary", (k, n_features), X.dtype)
        self._A = restored_array(resume, "A", (k, k), X.dtype)
        self._Bt = restored_array(resume, "Bt", (k, n_features), X.dtype)
        order = None
        if self.shuffle:
            order = restored_array(resume, "order", (n_samples,), np.intp)
            if not np.array_equal(np.sort(order), np.arange(n_samples)):
                raise CheckpointError("the checkpoint's 'order' is not a permutation of "
                                      f"the {n_samples} samples")
        self._random_state = restore_rng(resume["rng_state"])
        self._ewa_cost = _optional_float(resume["ewa_cost"])
        self._ewa_cost_min = _optional_float(resume["ewa_cost_min"])
        self._no_improvement = int(resume["no_improvement"])
        return dictionary, order

    def _step_state(self, n_steps_done, n_steps, dictionary, order, batch_cost):
        """The complete fit state after ``n_steps_done`` mini-batches (for a checkpoint)."""
        state = dict(n_iter=n_steps_done, n_iter_max=n_steps, loss=batch_cost,
                     dictionary=dictionary, A=self._A, Bt=self._Bt,
                     rng_state=encode_rng_state(self._random_state),
                     ewa_cost=self._ewa_cost, ewa_cost_min=self._ewa_cost_min,
                     no_improvement=self._no_improvement)
        if order is not None:
            state["order"] = order
        return state

    def _fit_steps(self, X, callback=None, resume=None):
        """Mini-batch steps over a validated X, from scratch or from ``resume``."""
        self._check_params(X)
        n_samples = X.shape[0]
        bs = self._batch_size
        n_steps_per_iter = int(np.ceil(n_samples / bs))
        n_steps = self.max_iter * n_steps_per_iter
        if resume is None:
            first_step = 0
            dictionary, order = self._start_fit(X)
        else:
            require_values(resume, ("n_iter", "rng_state", "ewa_cost", "ewa_cost_min",
                                    "no_improvement"), type(self).__name__)
            first_step = _resumed_step(resume, n_steps, "mini-batch step")
            dictionary, order = self._restore_fit(X, resume)
        X_train = X if order is None else np.ascontiguousarray(X[order])
        old_dict = dictionary.copy()
        unconverged = _Unconverged()
        i = first_step - 1
        for i in range(first_step, n_steps):
            start = (i % n_steps_per_iter) * bs
            X_batch = X_train[start:start + bs]
            batch_cost = self._minibatch_step(X_batch, dictionary, self._random_state, i,
                                              unconverged)
            if self._check_convergence(X_batch, batch_cost, dictionary, old_dict,
                                       n_samples, i, n_steps):
                break
            if self.callback is not None:
                self.callback(locals())
            if callback is not None:
                callback(self._step_state(i + 1, n_steps, dictionary, order, batch_cost))
            old_dict[:] = dictionary
        unconverged.warn(type(self).__name__)
        self.n_steps_ = i + 1
        self.n_iter_ = int(np.ceil(self.n_steps_ / n_steps_per_iter))
        self.components_ = dictionary

    def partial_fit(self, X, y=None):
        """Update the dictionary with one mini-batch X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self
        """
        has_components = hasattr(self, "components_")
        X = validate_data(self, X, reset=not has_components)
        if not has_components:
            self._check_params(X)
            self._random_state = check_random_state(self.random_state)
            dictionary = self._initialize_dict(X, self._random_state)
            self.n_steps_ = 0
            self._init_stats(X.shape[1], X.dtype)
        else:
            dictionary = self.components_
            if dictionary.dtype != X.dtype:
                X = X.astype(dictionary.dtype)
        self._minibatch_step(X, dictionary, self._random_state, self.n_steps_)
        self.components_ = dictionary
        self.n_steps_ += 1
        return self


# ---------------------------------------------------------------------------
# sparse autoencoder
# ---------------------------------------------------------------------------
class _Adam:
    """Adam (Kingma & Ba, 2015) over a list of arrays, updated in place."""

    def __init__(self, params, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8):
        self.params = params
        self.lr, self.beta1, self.beta2, self.eps = learning_rate, beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        lr = self.lr * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            p -= (lr * m / (np.sqrt(v) + self.eps)).astype(p.dtype, copy=False)


class SparseAutoencoder(TransformerMixin, BaseEstimator):
    """Sparse autoencoder: learned soft-threshold encoder, linear decoder.

    ``code = soft_threshold((X - b_dec) @ W_enc.T + b_enc, threshold)`` with a
    learned threshold per component (non-negative soft-threshold with
    ``positive_code=True``), ``X_hat = code @ components_ + b_dec``. Trained
    by mini-batch Adam on::

        mean((X - X_hat) ** 2) + alpha * mean_over_samples(||code||_1)

    with the decoder's atoms (rows of ``components_``) kept at norm <= 1, so
    that the penalty cannot be dodged by scaling. The products are BLAS
    GEMMs; the soft-threshold and its backward pass are the compiled
    kernels :func:`fastfactor.kernels.soft_threshold` and
    :func:`~fastfactor.kernels.soft_threshold_grad`. float32 data trains in
    float32.

    Parameters
    ----------
    n_components : int, optional
        Code size; default n_features.
    alpha : float, default=0.1
        Weight of the L1 penalty on the codes.
    learning_rate : float, default=1e-3
        Adam's step size.
    batch_size : int, default=256
    max_iter : int, default=200
        Epochs (passes over the data).
    tol : float, default=1e-4
        An epoch improves when its mean loss drops by more than ``tol``
        times the best loss so far.
    n_iter_no_change : int, default=10
        Stop after this many epochs without improvement.
    shuffle : bool, default=True
        Shuffle the samples every epoch.
    positive_code : bool, default=False
        Non-negative codes.
    n_jobs : int, optional
        Threads of the soft-threshold kernels.
    random_state : int, RandomState or None
    verbose : bool, default=False

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Decoder atoms.
    encoder_weights_ : ndarray of shape (n_components, n_features)
    encoder_bias_ : ndarray of shape (n_components,)
    threshold_ : ndarray of shape (n_components,)
    decoder_bias_ : ndarray of shape (n_features,)
    loss_curve_ : list of float
        Mean loss of each epoch.
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    """

    def __init__(self, n_components=None, *, alpha=0.1, learning_rate=1e-3, batch_size=256,
                 max_iter=200, tol=1e-4, n_iter_no_change=10, shuffle=True,
                 positive_code=False, n_jobs=None, random_state=None, verbose=False):
        self.n_components = n_components
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.shuffle = shuffle
        self.positive_code = positive_code
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self, X):
        if self.n_components is None:
            n_components = X.shape[1]
        else:
            n_components = check_int(self.n_components, "n_components", min_value=1)
        check_float(self.alpha, "alpha", min_value=0.0)
        check_float(self.learning_rate, "learning_rate", min_value=0.0, min_inclusive=False)
        check_int(self.batch_size, "batch_size", min_value=1)
        check_int(self.max_iter, "max_iter", min_value=1)
        check_float(self.tol, "tol", min_value=0.0)
        check_int(self.n_iter_no_change, "n_iter_no_change", min_value=1)
        for flag in ("shuffle", "positive_code"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise TypeError(f"{flag} must be a bool, got {getattr(self, flag)!r}.")
        return n_components

    def _init_params(self, X, n_components, rng):
        dtype = X.dtype
        n_features = X.shape[1]
        W = rng.normal(size=(n_components, n_features))
        W /= np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-12)
        self.components_ = np.array(W, dtype=dtype, order="C")
        self.encoder_weights_ = self.components_.copy()
        self.encoder_bias_ = np.zeros(n_components, dtype=dtype)
        self.threshold_ = np.zeros(n_components, dtype=dtype)
        self.decoder_bias_ = X.mean(axis=0).astype(dtype)

    def _encode(self, X, n_threads):
        """Forward pass of the encoder: returns (Z, code)."""
        Z = (X - self.decoder_bias_) @ self.encoder_weights_.T
        Z += self.encoder_bias_
        code = kernels.soft_threshold(Z, self.threshold_, positive=self.positive_code,
                                      n_threads=n_threads)
        return Z, code

    def _step(self, Xb, adam, n_threads):
        """One Adam step on a mini-batch; returns the batch loss."""
        B, d = Xb.shape
        alpha = float(self.alpha)
        Xc = Xb - self.decoder_bias_
        Z = Xc @ self.encoder_weights_.T
        Z += self.encoder_bias_
        code = kernels.soft_threshold(Z, self.threshold_, positive=self.positive_code,
                                      n_threads=n_threads)
        E = code @ self.components_
        E += self.decoder_bias_
        E -= Xb
        loss = (float(np.einsum("ij,ij->", E, E, dtype=np.float64)) / (B * d)
                + alpha * float(np.abs(code).sum(dtype=np.float64)) / B)
        # backward
        dXhat = E * (2.0 / (B * d))
        g_dec = code.T @ dXhat
        dcode = dXhat @ self.components_.T
        dcode += (alpha / B) * np.sign(code)
        dZ, g_thr = kernels.soft_threshold_grad(Z, dcode, self.threshold_,
                                                positive=self.positive_code,
                                                n_threads=n_threads)
        g_enc = dZ.T @ Xc
        g_benc = dZ.sum(axis=0)
        g_bdec = dXhat.sum(axis=0) - dZ.sum(axis=0) @ self.encoder_weights_
        adam.step([g_dec, g_enc, g_benc, g_thr.astype(Z.dtype), g_bdec])
        np.maximum(self.threshold_, 0, out=self.threshold_)
        norms = np.linalg.norm(self.components_, axis=1)
        self.components_ /= np.maximum(norms, 1)[:, None]
        return loss

    def fit(self, X, y=None):
        """Train the autoencoder on X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self
        """
        X = validate_data(self, X, reset=True)
        n_components = self._check_params(X)
        rng = check_random_state(self.random_state)
        n_threads = _n_threads(self.n_jobs)
        self._init_params(X, n_components, rng)
        params = [self.components_, self.encoder_weights_, self.encoder_bias_,
                  self.threshold_, self.decoder_bias_]
        adam = _Adam(params, float(self.learning_rate))
        n = X.shape[0]
        bs = min(int(self.batch_size), n)
        best, stall = np.inf, 0
        self.loss_curve_ = []
        epoch = 0
        for epoch in range(1, int(self.max_iter) + 1):
            order = rng.permutation(n) if self.shuffle else None
            total = 0.0
            for start in range(0, n, bs):
                Xb = X[order[start:start + bs]] if order is not None else X[start:start + bs]
                total += self._step(Xb, adam, n_threads) * Xb.shape[0]
            loss = total / n
            self.loss_curve_.append(loss)
            if self.verbose:
                print(f"Epoch {epoch}: loss {loss:.6g}")
            improved = not np.isfinite(best) or loss < best - self.tol * abs(best)
            stall = 0 if improved else stall + 1
            best = min(best, loss)
            if stall >= self.n_iter_no_change:
                break
        self.n_iter_ = epoch
        return self

    def transform(self, X):
        """Encode X: the sparse codes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        X = X.astype(self.components_.dtype, copy=False)
        return self._encode(X, _n_threads(self.n_jobs))[1]

    def inverse_transform(self, X):
        """Decode codes: ``X @ components_ + decoder_bias_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        code = check_code(X, self.components_.shape[0], self.components_.dtype,
                          whom="SparseAutoencoder")
        return code @ self.components_ + self.decoder_bias_

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _update_tags(self, tags):
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
