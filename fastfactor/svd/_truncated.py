"""TruncatedSVD: the scikit-learn estimator over the randomized SVD (or ARPACK)."""
import numpy as np
import scipy.sparse as sp

from .._base import BaseEstimator, TransformerMixin, check_is_fitted
from .._utils.dask import is_dask_array, prepare
from .._utils.linalg import flip_signs, sign_flips
from .._utils.threads import resolve_n_threads
from .._utils.validation import (
    check_array,
    check_float,
    check_int,
    check_option,
    check_random_state,
    validate_data,
)
from ._dask import dask_randomized_svd, explained_variance
from ._operands import matrix_products
from ._params import ENERGY_CONVENTIONS, check_n_components, check_rank_fits, resolve_sketch
from ._randomized import validated_randomized_svd


def _column_variance_sum(X):
    """Sum of the column variances of X (dense or sparse), accumulated in float64."""
    m = X.shape[0]
    if sp.issparse(X):
        mean = np.asarray(X.sum(axis=0, dtype=np.float64)).ravel() / m
        sq = np.asarray(X.multiply(X).sum(axis=0, dtype=np.float64)).ravel() / m
        return float(np.clip(sq - mean ** 2, 0, None).sum())
    return float(np.var(X, axis=0, dtype=np.float64).sum())


class TruncatedSVD(TransformerMixin, BaseEstimator):
    """Dimensionality reduction by truncated SVD (latent semantic analysis).

    A drop-in for :class:`sklearn.decomposition.TruncatedSVD`: the data is
    not centred, so sparse input works efficiently (it is never densified).
    ``n_components`` may also be an energy fraction.

    Parameters
    ----------
    n_components : int or float, default=2
        An int is the output dimension (``< n_features``). A float in (0, 1)
        keeps the fewest components whose energy reaches that fraction (see
        ``energy``); ``n_components_`` then holds the rank found.
    algorithm : {'randomized', 'arpack'}, default='randomized'
        'randomized' is :func:`randomized_svd`; 'arpack' is
        :func:`scipy.sparse.linalg.svds` (with an energy fraction, the rank
        is found by the randomized sketch first).
    n_iter : int, default=5
        Power iterations of the randomized solver.
    n_oversamples : int, default=10
        Extra random vectors of the randomized solver.
    power_iteration_normalizer : {'auto', 'QR', 'LU', 'none'}, default='auto'
    random_state : int, RandomState, Generator or None
    tol : float, default=0.0
        ARPACK tolerance (0 means machine precision).
    energy : {'squared', 'linear'}, default='squared'
        Energy convention for a float ``n_components`` (see
        :func:`randomized_svd`).
    sketch_dtype : {'auto', 'float32', 'float64'}, default='auto'
        Precision of the randomized power iterations (see
        :func:`randomized_svd`).
    n_jobs : int or None, default=None
        Threads of fastfactor's product kernels (the passes over X of the
        randomized solver, and ``transform``); scikit-learn's name for
        ``n_threads``. None follows OpenMP's setting (``OMP_NUM_THREADS``
        or a ``threadpoolctl`` limit), -1 uses every CPU this process may
        run on. ARPACK and the small dense steps follow BLAS's own setting,
        and a dask X runs on its workers' threads.
    n_threads : int or None, default=None
        The same setting under fastfactor's name; give one of the two (both
        with different values is a ValueError).

    Attributes
    ----------
    components_ : ndarray of shape (n_components_, n_features)
    singular_values_ : ndarray of shape (n_components_,)
    explained_variance_ : ndarray of shape (n_components_,)
        Variance of each column of the transformed training data.
    explained_variance_ratio_ : ndarray of shape (n_components_,)
        ``explained_variance_`` over the total variance of the columns of X.
    n_components_ : int
        Number of components kept.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.
    """

    def __init__(self, n_components=2, *, algorithm="randomized", n_iter=5, n_oversamples=10,
                 power_iteration_normalizer="auto", random_state=None, tol=0.0,
                 energy="squared", sketch_dtype="auto", n_jobs=None, n_threads=None):
        self._store_init_arguments(locals())

    def fit(self, X, y=None):
        """Fit the model on X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self
        """
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit the model on X and return the reduced X.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A ``dask.array`` is fitted where its row blocks live (see
            :mod:`fastfactor.svd._dask`); X_new is then a dask array too.
        y : Ignored

        Returns
        -------
        X_new : ndarray or dask array of shape (n_samples, n_components_)
        """
        if is_dask_array(X):
            return self._fit_dask(X)
        X = validate_data(self, X, reset=True, accept_sparse=True, ensure_min_features=2)
        check_option(self.algorithm, "algorithm", ("randomized", "arpack"))
        n_iter = check_int(self.n_iter, "n_iter", min_value=0)
        tol = check_float(self.tol, "tol", min_value=0)
        n_threads = resolve_n_threads(self.n_threads, self.n_jobs)
        mode, value = check_n_components(self.n_components, X.shape[1] - 1
                                         if self.algorithm == "arpack" else X.shape[1])
        if mode == "rank":
            check_rank_fits(value, X.shape)
        random_state = check_random_state(self.random_state)
        if self.algorithm == "randomized" or mode == "energy":
            U, S, Vt = validated_randomized_svd(
                X, self.n_components, n_oversamples=self.n_oversamples, n_iter=n_iter,
                power_iteration_normalizer=self.power_iteration_normalizer, transpose="auto",
                random_state=random_state, energy=self.energy, sketch_dtype=self.sketch_dtype,
                n_threads=n_threads)
        if self.algorithm == "arpack":
            k = value if mode == "rank" else len(S)
            if k >= min(X.shape):
                raise ValueError(
                    f"algorithm='arpack' needs n_components < min(n_samples, n_features) = "
                    f"{min(X.shape)}, got {k}" + ("" if mode == "rank" else
                                                  f" (rank found for energy {value})") + "."
                )
            U, S, Vt = self._arpack(X, k, tol, random_state)
        U, Vt = flip_signs(U, Vt, u_based=False)
        self.components_ = Vt
        if self.algorithm == "arpack" and tol > 0:
            X_new = np.asarray(X @ Vt.T)
        else:
            X_new = U * S  # exact: V lies in the sketched row space
        self.singular_values_ = S
        self.n_components_ = len(S)
        self.explained_variance_ = np.var(X_new, axis=0, dtype=np.float64).astype(X.dtype)
        full_var = _column_variance_sum(X)
        self.explained_variance_ratio_ = (self.explained_variance_ / full_var
                                          if full_var > 0 else
                                          np.zeros_like(self.explained_variance_))
        return X_new

    def _fit_dask(self, X):
        """``fit_transform`` of a row-chunked dask array: the randomized solver, in blocks.

        Same parameters, random draws and result (to rounding) as the fit of
        the same data in memory; X_new stays in X's row blocks.
        """
        X, _ = prepare(X)
        n_iter, n_oversamples = self._check_dask_params(X)
        self.__dict__.pop("feature_names_in_", None)
        self.n_features_in_ = X.shape[1]
        fit = dask_randomized_svd(
            X, self.n_components, n_oversamples=n_oversamples, n_iter=n_iter,
            power_iteration_normalizer=self.power_iteration_normalizer,
            random_state=check_random_state(self.random_state), energy=self.energy,
            sketch_dtype=self.sketch_dtype)
        S = fit.S
        signs = sign_flips(fit.Vt).astype(X.dtype, copy=False)
        # U * S with the flipped signs, computed in the blocks
        X_new = fit.U.scale_columns(signs * S).materialized()
        self.components_ = fit.Vt * signs[:, None]
        self.singular_values_ = S
        self.n_components_ = len(S)
        self.explained_variance_ = explained_variance(fit, X_new).astype(X.dtype)
        full_var = fit.column_variance_sum
        self.explained_variance_ratio_ = (self.explained_variance_ / full_var
                                          if full_var > 0 else
                                          np.zeros_like(self.explained_variance_))
        return fit.runner.to_dask(X_new.parts, len(S), X.dtype)

    def _check_dask_params(self, X):
        """Every check of ``fit`` that needs no pass over the data; (n_iter, n_oversamples)."""
        if not isinstance(getattr(X, "_meta", None), np.ndarray):
            raise TypeError(f"TruncatedSVD takes dask arrays with numpy chunks, got "
                            f"{type(X._meta).__name__} chunks; convert them with "
                            "X.map_blocks(lambda b: b.toarray()).")
        check_option(self.algorithm, "algorithm", ("randomized", "arpack"))
        if self.algorithm == "arpack":
            raise ValueError("algorithm='arpack' is not available for a dask array X (ARPACK "
                             "needs the whole matrix in one process); use "
                             "algorithm='randomized'.")
        n_iter = check_int(self.n_iter, "n_iter", min_value=0)
        n_oversamples = check_int(self.n_oversamples, "n_oversamples", min_value=0)
        check_float(self.tol, "tol", min_value=0)
        check_option(self.energy, "energy", ENERGY_CONVENTIONS)
        resolve_n_threads(self.n_threads, self.n_jobs)
        resolve_sketch(self.sketch_dtype, self.power_iteration_normalizer, n_iter, X.dtype)
        m, n = X.shape
        if n < 2 or m < 1:
            raise ValueError(f"TruncatedSVD needs at least 1 sample and 2 features, got X of "
                             f"shape {X.shape}.")
        mode, value = check_n_components(self.n_components, n)
        if mode == "rank":
            check_rank_fits(value, X.shape)
        return n_iter, n_oversamples

    @staticmethod
    def _arpack(X, k, tol, random_state):
        from scipy.sparse.linalg import svds

        v0 = random_state.uniform(-1, 1, size=min(X.shape)).astype(X.dtype)
        U, S, Vt = svds(X, k=k, tol=tol, v0=v0)
        order = np.argsort(S)[::-1]
        return U[:, order], S[order], Vt[order]

    def transform(self, X):
        """Project X on the components.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array is projected block by block, lazily.

        Returns
        -------
        X_new : ndarray or dask array of shape (n_samples, n_components_)
        """
        check_is_fitted(self, "components_")
        if is_dask_array(X):
            return self._transform_dask(X)
        X = validate_data(self, X, reset=False, accept_sparse=True)
        n_threads = resolve_n_threads(self.n_threads, self.n_jobs)
        return matrix_products(X, n_threads).matmul(self.components_.T.astype(X.dtype))

    def _transform_dask(self, X):
        X, _ = prepare(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input.")
        V = np.ascontiguousarray(self.components_.T, dtype=X.dtype)
        return X.map_blocks(_project_block, V, dtype=X.dtype,
                            chunks=(X.chunks[0], (V.shape[1],)))

    def inverse_transform(self, X):
        """Map reduced data back to the original space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components_)

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self, "components_")
        X = check_array(X, name="X", whom=type(self).__name__)
        if X.shape[1] != self.components_.shape[0]:
            raise ValueError(
                f"X has {X.shape[1]} columns, but {type(self).__name__} has "
                f"{self.components_.shape[0]} components."
            )
        return X @ self.components_

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _update_tags(self, tags):
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]


def _project_block(X_i, V):
    # one row block of a dask X times the components (the block stays where it is)
    return np.asarray(X_i) @ V
