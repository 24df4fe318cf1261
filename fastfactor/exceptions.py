"""The warnings and errors fastfactor raises, one class each for the whole package.

When scikit-learn is installed, ``ConvergenceWarning`` and ``NotFittedError``
are scikit-learn's own classes (or subclasses of them), so that code written
against scikit-learn filters and catches fastfactor's warnings and errors
unchanged.
"""

try:  # share scikit-learn's classes when it is installed, so filters and checks catch ours
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.exceptions import NotFittedError as _NotFittedBase

    _NOT_FITTED_BASES = (_NotFittedBase,)
except ImportError:  # pragma: no cover - exercised without scikit-learn
    _NOT_FITTED_BASES = (ValueError, AttributeError)

    class ConvergenceWarning(UserWarning):
        """An iterative solver stopped at its iteration limit before meeting ``tol``."""


class NotFittedError(*_NOT_FITTED_BASES):
    """Raised when a method that needs a fitted model is called before ``fit``.

    A ``ValueError`` and an ``AttributeError`` (and scikit-learn's
    ``NotFittedError`` when scikit-learn is installed).
    """


__all__ = ["ConvergenceWarning", "NotFittedError"]
