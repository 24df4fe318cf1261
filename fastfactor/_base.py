"""Estimator plumbing shared by every model: parameters, tags, fitted checks.

fastfactor does not depend on scikit-learn, but its estimators follow the
same protocol (``get_params``/``set_params``, ``__sklearn_tags__``,
fitted attributes ending in ``_``) so that scikit-learn's tools, such as
``clone``, ``Pipeline`` and ``check_estimator``, work with them.
"""
import inspect

import numpy as np


from .exceptions import NotFittedError  # noqa: F401  (re-exported: check_is_fitted raises it)


_PARAM_NAMES = {}  # estimator class -> its sorted __init__ parameter names


class BaseEstimator:
    """Parameter handling in the scikit-learn style.

    Every ``__init__`` argument is stored unchanged on the instance under
    its own name; validation happens in ``fit``.
    """

    def _store_init_arguments(self, arguments):
        """Store each ``__init__`` argument unchanged under its own name.

        ``arguments`` is the ``locals()`` of ``__init__``: scikit-learn's
        convention is that ``__init__`` does nothing else (no validation, no
        derived values), so ``get_params``/``set_params``/``clone`` see exactly
        what the caller passed.
        """
        for name in self._get_param_names():
            if name in arguments:  # a subclass's own parameters are stored by its __init__
                setattr(self, name, arguments[name])

    @classmethod
    def _get_param_names(cls):
        # inspect.signature costs tens of microseconds: once per class, not per call
        names = _PARAM_NAMES.get(cls)
        if names is None:
            names = _PARAM_NAMES[cls] = cls._signature_param_names()
        return list(names)

    @classmethod
    def _signature_param_names(cls):
        init_signature = inspect.signature(cls.__init__)
        names = []
        for p in init_signature.parameters.values():
            if p.name == "self" or p.kind == p.VAR_KEYWORD:
                continue
            if p.kind == p.VAR_POSITIONAL:
                raise RuntimeError(f"{cls.__name__} must not take *args in __init__")
            names.append(p.name)
        return sorted(names)

    def get_params(self, deep=True):
        """Get the parameters of this estimator.

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of contained estimators.

        Returns
        -------
        dict
            Parameter names mapped to their values.
        """
        out = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for sub_name, sub_value in value.get_params().items():
                    out[f"{name}__{sub_name}"] = sub_value
            out[name] = value
        return out

    def set_params(self, **params):
        """Set the parameters of this estimator.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator instance
        """
        valid = self._get_param_names()
        nested = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {valid!r}."
                )
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self):
        defaults = {
            p.name: p.default
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.default is not p.empty
        }
        shown = []
        for name in self._get_param_names():
            value = getattr(self, name, None)
            default = defaults.get(name, inspect.Parameter.empty)
            if _differs(value, default):
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def __sklearn_is_fitted__(self):
        return any(
            name.endswith("_") and not name.startswith("__") for name in vars(self)
        )

    def __sklearn_tags__(self):
        # Only scikit-learn calls this, so importing it here adds no
        # runtime dependency.
        from sklearn.utils import Tags, TargetTags, TransformerTags

        tags = Tags(estimator_type=None, target_tags=TargetTags(required=False))
        tags.transformer_tags = TransformerTags()
        self._update_tags(tags)
        return tags

    def _update_tags(self, tags):
        """Adjust scikit-learn tags; subclasses override."""


def _differs(value, default):
    if default is inspect.Parameter.empty:
        return True
    if isinstance(value, np.ndarray) or isinstance(default, np.ndarray):
        return True
    try:
        return bool(value != default) or type(value) is not type(default)
    except Exception:
        return True


class TransformerMixin:
    """``fit_transform`` from ``fit`` and ``transform``, and output feature names."""

    def fit_transform(self, X, y=None, **fit_params):
        """Fit to X, then transform it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        **fit_params : dict
            Passed to ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, n_components)
        """
        return self.fit(X, y, **fit_params).transform(X)

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: ``<classname><i>``.

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        ndarray of str
        """
        check_is_fitted(self)
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self._n_features_out)], dtype=object)


def check_is_fitted(estimator, attributes=None):
    """Raise :class:`NotFittedError` unless ``estimator`` has been fitted.

    Parameters
    ----------
    estimator : estimator instance
    attributes : str or list of str, optional
        Attributes that must exist. By default any attribute ending in
        ``_`` counts as a sign of fitting.
    """
    if attributes is None:
        fitted = estimator.__sklearn_is_fitted__()
    else:
        if isinstance(attributes, str):
            attributes = [attributes]
        fitted = all(hasattr(estimator, a) for a in attributes)
    if not fitted:
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' "
            "with appropriate arguments before using this estimator."
        )
