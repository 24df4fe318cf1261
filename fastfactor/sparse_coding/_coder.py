"""Transformers that encode X against a dictionary: the shared base and SparseCoder."""
import numpy as np

from .._base import BaseEstimator, TransformerMixin, check_is_fitted
from .._utils.dask import is_dask_array
from .._utils.validation import check_array, validate_data
from ._encode import _encode, _map_row_blocks, thread_count
from ._validation import check_code, check_dictionary, check_sparse_coding


class _SparseTransformer(TransformerMixin):
    """``fit``, ``transform`` and ``inverse_transform`` of every estimator of this package.

    A subclass says what fitting a validated X does (``_fit_validated``),
    how a validated X is coded (``_code``) and a code decoded
    (``_decode``), and where its atoms are (``_atoms``: ``components_``
    unless overridden).
    """

    def fit(self, X, y=None):
        """Fit the model to X (SparseCoder only checks its parameters against X).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored

        Returns
        -------
        self
        """
        X = validate_data(self, X, reset=True)
        self._fit_validated(X)
        return self

    @property
    def _atoms(self):
        """The dictionary (decoder), one atom per row."""
        return self.components_

    def _checked_input(self, X):
        """X validated against the fit, before coding."""
        return validate_data(self, X, reset=False)

    @property
    def _code_dtype(self):
        """The dtype of the codes, or None when they keep X's."""
        return None

    def transform(self, X, y=None):
        """Encode X: its sparse codes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Signals to encode; a dask array is encoded block by block, lazily.
        y : Ignored

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            (``2 * n_components`` for a coder with ``split_sign=True``.)
        """
        check_is_fitted(self)
        if is_dask_array(X):
            return _map_row_blocks(X, self.transform, self._n_features_out, self._code_dtype)
        return self._code(self._checked_input(X))

    def inverse_transform(self, X):
        """Decode: map codes back to the data space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes, as :meth:`transform` returns them.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        code = check_code(X, self._n_features_out, self._atoms.dtype, whom=type(self).__name__)
        return self._decode(code)

    @property
    def _n_features_out(self):
        return self._atoms.shape[0]

    def _update_tags(self, tags):
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]


class _BaseSparseCoding(_SparseTransformer):
    """Coding against a dictionary with scikit-learn's ``transform_*`` parameters.

    Shared by SparseCoder and the dictionary learners: ``X @ components_``
    decodes, and ``split_sign`` puts the positive and negative parts of the
    codes side by side.
    """

    def _coding_params(self, n_components, n_features, positive=None):
        """The checked ``(alpha, n_nonzero_coefs)`` of the transform.

        ``positive`` overrides ``positive_code`` in the check (a fit checks
        the transform's parameters with ``positive=False``: scikit-learn
        refuses a positive 'lars' or 'omp' transform only when it runs).
        """
        alpha = self.transform_alpha
        if alpha is None:
            alpha = getattr(self, "alpha", None)
        alpha, n_nonzero = check_sparse_coding(
            self.transform_algorithm, alpha=alpha,
            n_nonzero_coefs=self.transform_n_nonzero_coefs,
            positive=self.positive_code if positive is None else positive,
            max_iter=self.transform_max_iter, n_components=n_components,
            n_features=n_features, whom=type(self).__name__, prefix="transform_")
        return alpha, n_nonzero

    def _code(self, X):
        return self._transform(X, self.components_)

    def _transform(self, X, dictionary):
        alpha, n_nonzero = self._coding_params(*dictionary.shape)
        D = np.ascontiguousarray(dictionary, dtype=X.dtype)
        code = _encode(X, D, algorithm=self.transform_algorithm, alpha=alpha,
                       n_nonzero_coefs=n_nonzero, max_iter=self.transform_max_iter,
                       positive=self.positive_code,
                       n_threads=thread_count(self.n_threads, self.n_jobs))
        if self.split_sign:
            # the positive and the negative parts side by side
            code = np.concatenate([np.maximum(code, 0), -np.minimum(code, 0)], axis=1)
        return code

    def _decode(self, code):
        dictionary = self._atoms
        if self.split_sign:
            half = dictionary.shape[0]
            code = code[:, :half] - code[:, half:]
        return code @ np.asarray(dictionary, dtype=code.dtype)

    @property
    def _n_features_out(self):
        return self._atoms.shape[0] * (2 if self.split_sign else 1)


class SparseCoder(_BaseSparseCoding, BaseEstimator):
    """Sparse coding against a fixed dictionary (drop-in for scikit-learn's).

    No fit is needed: ``transform`` codes X against ``dictionary`` as it is,
    and ``fit`` only checks the parameters and the dictionary against X.

    Parameters
    ----------
    dictionary : ndarray of shape (n_components, n_features)
        The atoms, one per row.
    transform_algorithm : {'lasso_lars', 'lasso_cd', 'lars', 'omp', 'threshold', 'fista'}, \
            default='omp'
        See :func:`sparse_encode`.
    transform_n_nonzero_coefs : int, optional
        Atoms per signal for ``'omp'``, LAR steps for ``'lars'``.
    transform_alpha : float, optional
        L1 penalty or threshold; default 1.
    split_sign : bool, default=False
        Return ``[max(code, 0), -min(code, 0)]`` side by side.
    n_jobs, n_threads : int, optional
        Threads, under either name (see :func:`sparse_encode`).
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
                 n_jobs=None, n_threads=None, positive_code=False, transform_max_iter=1000):
        self._store_init_arguments(locals())

    def _checked_dictionary(self, X):
        return check_dictionary(self.dictionary, X.shape[1], X.dtype, whom="SparseCoder")

    @property
    def _atoms(self):
        return np.asarray(self.dictionary)

    def _checked_input(self, X):
        # no fit needed: X is checked against the fit only when there was one
        if hasattr(self, "n_features_in_"):
            return validate_data(self, X, reset=False)
        return check_array(X, whom="SparseCoder")

    def _code(self, X):
        return self._transform(X, self._checked_dictionary(X))

    def _fit_validated(self, X):
        D = self._checked_dictionary(X)
        self._coding_params(*D.shape, positive=False)
        self.n_components_ = D.shape[0]

    def __sklearn_is_fitted__(self):
        return True

    def _update_tags(self, tags):
        super()._update_tags(tags)
        tags.requires_fit = False
