"""What the NMF estimators (NMF, MiniBatchNMF, DeepNMF) share as estimators.

``fit`` through ``fit_transform``, ``transform`` through ``_transform``,
``inverse_transform``, the validation of X and of ``n_components``, the
output size, scikit-learn's tags, and the thread setting given as
``n_threads`` or ``n_jobs``.
"""
import numpy as np

from .._base import check_is_fitted
from .._utils.threads import effective_n_threads, resolve_n_threads
from .._utils.validation import check_array, check_int, validate_data

__all__ = ["NMFEstimatorMixin"]


class NMFEstimatorMixin:
    """Methods common to the NMF estimators; they store ``components_`` (k, n_features)."""

    # said after the component count when inverse_transform gets the wrong width
    _components_note = ""

    def _thread_setting(self):
        """The user's thread count, given as ``n_threads`` or ``n_jobs`` (or None)."""
        return resolve_n_threads(self.n_threads, self.n_jobs)

    def _effective_n_threads(self):
        """The thread count the kernels get (see :func:`effective_n_threads`)."""
        return effective_n_threads(self._thread_setting())

    def _validate_X(self, X, reset):
        """X checked as non-negative data (dense or sparse); ``reset`` on fit."""
        return validate_data(self, X, reset=reset, accept_sparse=True, ensure_non_negative=True)

    def _check_n_components(self, X):
        """``n_components`` checked: None is n_features, 'auto' is left to the fit."""
        n_components = self.n_components
        if n_components is None:
            return X.shape[1]
        if isinstance(n_components, str) and n_components == "auto":
            return n_components
        return check_int(n_components, "n_components", min_value=1)

    def fit(self, X, y=None, **params):
        """Learn the factorization of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored
        **params
            Passed on to ``fit_transform`` (``W`` and ``H`` for
            ``init='custom'``, where the estimator takes them).

        Returns
        -------
        self
        """
        self.fit_transform(X, **params)
        return self

    def transform(self, X):
        """Codes W of X with the learned components held fixed.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self, "components_")
        return self._transform(self._validate_X(X, reset=False))

    def inverse_transform(self, X):
        """Map codes back to data space: ``X @ components_``.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_components)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self, "components_")
        name = type(self).__name__
        W = check_array(X, name="X", accept_sparse=True, whom=f"{name}.inverse_transform")
        if W.shape[1] != self.n_components_:
            raise ValueError(f"X has {W.shape[1]} columns, but {name} has "
                             f"{self.n_components_} components{self._components_note}.")
        return np.asarray(W @ self.components_.astype(W.dtype, copy=False))

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _update_tags(self, tags):
        tags.input_tags.positive_only = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
