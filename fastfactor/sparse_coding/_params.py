"""Parameter checks shared by the sparse-coding estimators."""
import numpy as np

from .._utils.validation import check_int


def checked_n_components(estimator, X):
    """``estimator.n_components`` checked, or X's number of features when it is None."""
    if estimator.n_components is None:
        return X.shape[1]
    return check_int(estimator.n_components, "n_components", min_value=1)


def check_flags(estimator, names):
    """Raise TypeError unless each parameter in ``names`` is a bool."""
    for name in names:
        value = getattr(estimator, name)
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {value!r}.")
