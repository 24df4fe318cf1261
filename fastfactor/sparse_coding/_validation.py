"""Input and parameter checks of the sparse-coding family (messages as scikit-learn's)."""
import numpy as np

from .._utils.validation import check_array, check_float, check_int

SPARSE_CODING_ALGORITHMS = ("lasso_lars", "lasso_cd", "lars", "omp", "threshold", "fista")
# algorithms whose codes cannot be constrained to be non-negative
_NO_POSITIVE = ("omp", "lars")


def check_positive_coding(method, positive, *, name="positive"):
    """Raise scikit-learn's ValueError when ``method`` cannot give non-negative codes.

    ``method`` is a coding algorithm or a dictionary learner's
    ``fit_algorithm`` (scikit-learn refuses ``fit_algorithm='lars'`` with
    ``positive_code=True`` too, though the fit itself runs ``lasso_lars``).
    """
    if positive and method in _NO_POSITIVE:
        raise ValueError(
            f"Positive constraint not supported for '{method}' coding method. "
            f"({name}=True needs one of 'lasso_lars', 'lasso_cd', 'threshold', 'fista'.)"
        )


def check_dictionary(dictionary, n_features, dtype, *, whom, name="dictionary"):
    """Validate a dictionary of atoms (one per row) against data with ``n_features``.

    Returns a C-contiguous array of ``dtype``. Rejects NaN/inf (ValueError
    naming ``name``) and a width that differs from the data's. An atom of
    zero norm is accepted, as scikit-learn accepts it: every algorithm
    gives it a zero code.
    """
    D = check_array(dictionary, name=name, dtype=(dtype,), whom=whom)
    if D.shape[1] != n_features:
        raise ValueError(
            f"Dictionary and X have different numbers of features: {name} has "
            f"{D.shape[1]} columns (shape {D.shape}) but X has {n_features}; {whom} needs "
            f"{name} of shape (n_components, {n_features})."
        )
    return D


def check_sparse_coding(algorithm, *, alpha, n_nonzero_coefs, positive, max_iter,
                        n_components, n_features, whom, prefix=""):
    """Check the coding parameters shared by sparse_encode and the estimators.

    ``prefix`` is prepended to parameter names in messages (e.g.
    ``"transform_"`` for the estimators). Returns ``(alpha, n_nonzero_coefs)``
    resolved as scikit-learn does: alpha defaults to 1, n_nonzero_coefs to
    ``min(max(n_features // 10, 1), n_components)``.
    """
    if not isinstance(algorithm, str) or algorithm not in SPARSE_CODING_ALGORITHMS:
        raise ValueError(f"The '{prefix}algorithm' parameter of {whom} must be a str among "
                         f"{set(SPARSE_CODING_ALGORITHMS)}. Got {algorithm!r} instead.")
    name = "positive_code" if prefix else "positive"
    if not isinstance(positive, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {positive!r}.")
    check_positive_coding(algorithm, positive, name=name)
    if alpha is None:
        alpha = 1.0
    else:
        alpha = check_float(alpha, f"{prefix}alpha", min_value=0.0)
    check_int(max_iter, f"{prefix}max_iter", min_value=0)
    if n_nonzero_coefs is None:
        n_nonzero_coefs = int(min(max(n_features / 10, 1), n_components))
    else:
        n_nonzero_coefs = check_int(n_nonzero_coefs, f"{prefix}n_nonzero_coefs", min_value=1)
        if algorithm == "omp" and n_nonzero_coefs > n_components:
            raise ValueError(
                f"The number of atoms cannot be more than the number of features: "
                f"{prefix}n_nonzero_coefs={n_nonzero_coefs} but the dictionary has "
                f"{n_components} atoms; {whom} needs 1 <= {prefix}n_nonzero_coefs <= "
                f"{n_components}."
            )
    return alpha, n_nonzero_coefs


def check_code(code, n_components, dtype, *, whom, name="X"):
    """Validate codes given to inverse_transform (n_samples, n_components)."""
    code = check_array(code, name=name, dtype=(dtype,), whom=whom)
    if code.shape[1] != n_components:
        raise ValueError(
            f"The number of components in the code is different from the number of "
            f"components in the dictionary. Expected {n_components}, got {code.shape[1]}. "
            f"({whom}.inverse_transform takes {name} as transform returns it.)"
        )
    return code
