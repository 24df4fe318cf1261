"""Every input check and every user-facing error message, in one place.

The compiled kernels trust their inputs: C-contiguous float32/float64
arrays, CSR matrices with ``intp`` indices, consistent shapes. The functions
here turn what users pass into exactly that, or raise a ``ValueError`` /
``TypeError`` that names the argument, what was expected and what was given.
"""
import numbers

import numpy as np
import scipy.sparse as sp

FLOAT_DTYPES = (np.float64, np.float32)


def _type_name(x):
    return type(x).__name__


def _is_dataframe(X):
    return hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "iloc")


def feature_names_of(X):
    """Return the column names of a DataFrame when they are all strings, else None."""
    if not _is_dataframe(X):
        return None
    names = np.asarray(X.columns, dtype=object)
    if len(names) and all(isinstance(n, str) for n in names):
        return names
    return None


def _to_float_array(X, name, dtype):
    """np.asarray with a clear error for what cannot become floats."""
    if _is_dataframe(X):
        X = X.to_numpy()
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
    kind = arr.dtype.kind
    if kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {arr.dtype}; "
                         "expected real numbers.")
    if kind in "USV" or (kind == "O" and arr.size and isinstance(arr.flat[0], (str, bytes))):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype} "
                        "(argument must be a string or a number convertible to float).")
    if kind == "b":
        arr = arr.astype(np.float64)
    if kind in "OiufbM" and arr.dtype not in (np.float32, np.float64) or kind == "O":
        target = dtype if dtype is not None else np.float64
        try:
            arr = arr.astype(target)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} with dtype {arr.dtype} could not be converted to {np.dtype(target)}: "
                f"{exc}"
            ) from exc
        if np.iscomplexobj(arr):
            raise ValueError(f"Complex data not supported in {name}.")
    elif kind not in "f":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}.")
    return arr


def _check_finite(values, name, allow_nan=False):
    if values.dtype.kind != "f" or values.size == 0:
        return
    # sum is one fast pass; only look closer if it is not finite
    if np.isfinite(values.sum(dtype=np.float64)) or (
        np.isfinite(values).all()
    ):
        return
    if np.isinf(values).any():
        raise ValueError(f"Input {name} contains infinity or a value too large for "
                         f"{values.dtype}.")
    if not allow_nan and np.isnan(values).any():
        raise ValueError(f"Input {name} contains NaN.")


def check_array(X, *, name="X", accept_sparse=False, dtype=FLOAT_DTYPES,
                ensure_min_samples=1, ensure_min_features=1, allow_nan=False,
                ensure_non_negative=False, whom=None):
    """Validate a 2-D input and convert it to what the kernels expect.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix/array
        The input.
    name : str
        How the argument is called in error messages.
    accept_sparse : bool
        Accept scipy.sparse input, returned as CSR with ``intp`` indices
        and sorted, de-duplicated entries.
    dtype : tuple of dtypes
        Accepted float dtypes, the first is used for anything else
        (integers, booleans, objects holding numbers).
    ensure_min_samples, ensure_min_features : int
        Minimum shape.
    allow_nan : bool
        Let NaN through (infinity never is).
    ensure_non_negative : bool
        Reject negative values, naming ``whom`` in the message.
    whom : str, optional
        Who needs the data, for error messages (e.g. ``"NMF"``).

    Returns
    -------
    ndarray (C-contiguous) or scipy.sparse.csr_matrix
    """
    whom = whom or "this function"
    if X is None:
        raise ValueError(f"{name} must be an array-like, got None.")
    if sp.issparse(X):
        if not accept_sparse:
            raise TypeError(
                f"{whom} does not accept sparse input for {name}; convert it with "
                f"{name}.toarray() (got {type(X).__name__})."
            )
        out = _check_sparse(X, name, dtype)
        values = out.data
    else:
        arr = _to_float_array(X, name, dtype[0] if dtype else None)
        if arr.ndim == 0:
            raise ValueError(f"Expected 2D array for {name}, got scalar array instead: "
                             f"{name}={arr!r}.")
        if arr.ndim == 1:
            raise ValueError(
                f"Expected 2D array for {name}, got 1D array instead: shape {arr.shape}. "
                "Reshape your data either using array.reshape(-1, 1) if it has a single "
                "feature or array.reshape(1, -1) if it contains a single sample."
            )
        if arr.ndim > 2:
            raise ValueError(f"Expected 2D array for {name}, got {arr.ndim}D array with "
                             f"shape {arr.shape}.")
        if dtype and arr.dtype not in dtype:
            arr = arr.astype(dtype[0])
        out = np.ascontiguousarray(arr)
        values = out
    n_samples, n_features = out.shape
    if n_samples < ensure_min_samples:
        raise ValueError(
            f"Found array with {n_samples} sample(s) (shape={out.shape}) while a minimum "
            f"of {ensure_min_samples} is required by {whom} ({name})."
        )
    if n_features < ensure_min_features:
        raise ValueError(
            f"Found array with {n_features} feature(s) (shape={out.shape}) while a minimum "
            f"of {ensure_min_features} is required by {whom} ({name})."
        )
    _check_finite(values, name, allow_nan=allow_nan)
    if ensure_non_negative:
        check_non_negative(out, whom, name=name)
    return out


def _check_sparse(X, name, dtype):
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported in {name}.")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got sparse dtype {X.dtype}.")
    if X.ndim != 2:
        raise ValueError(f"Expected 2D sparse {name}, got {X.ndim}D.")
    csr = sp.csr_matrix(X)  # copies only when X is not already CSR
    if csr.dtype not in dtype:
        csr = csr.astype(dtype[0])
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    # the kernels index with intp; build a new matrix so X itself is untouched
    indices = csr.indices.astype(np.intp, copy=False)
    indptr = csr.indptr.astype(np.intp, copy=False)
    out = sp.csr_matrix((csr.data, indices, indptr), shape=csr.shape, copy=False)
    if out.indices.dtype != np.intp:  # scipy may downcast index arrays it builds
        out.indices = indices
        out.indptr = indptr
    out.has_canonical_format = True
    return out


def check_non_negative(X, whom, name="X"):
    """Raise a ValueError naming ``whom`` if X has a negative entry."""
    values = X.data if sp.issparse(X) else X
    if values.size == 0:
        return
    lowest = values.min()
    if lowest < 0:
        raise ValueError(
            f"Negative values in data passed to {whom} (input {name}). It needs {name} >= 0 "
            f"(min found: {lowest:g})."
        )


def validate_data(estimator, X, *, reset, **check_kwargs):
    """check_array plus the bookkeeping of ``n_features_in_`` / ``feature_names_in_``.

    With ``reset=True`` (in ``fit``) the attributes are set from X; with
    ``reset=False`` (in ``transform`` and friends) X must match them.
    """
    whom = type(estimator).__name__
    names = feature_names_of(X)
    out = check_array(X, whom=whom, **check_kwargs)
    if reset:
        estimator.n_features_in_ = out.shape[1]
        if names is not None:
            estimator.feature_names_in_ = names
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return out
    expected = estimator.n_features_in_
    if out.shape[1] != expected:
        raise ValueError(
            f"X has {out.shape[1]} features, but {whom} is expecting {expected} features "
            "as input."
        )
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None and names is not None and not np.array_equal(
        names, fitted_names
    ):
        raise ValueError(
            f"The feature names of X differ from those seen in fit: expected "
            f"{list(fitted_names)[:5]}..., got {list(names)[:5]}..."
        )
    return out


def check_random_state(seed, name="random_state"):
    """Turn None, an int or a RandomState/Generator into a ``RandomState``.

    A ``numpy.random.Generator`` is wrapped so that its stream is used.
    """
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0 or seed >= 2**32:
            raise ValueError(f"{name} must be in [0, 2**32), got {seed}.")
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.RandomState(seed.bit_generator)
    raise TypeError(f"{name} must be None, an int or a numpy RandomState/Generator, "
                    f"got {_type_name(seed)}.")


def check_int(value, name, *, min_value=None, max_value=None, allow_none=False):
    """Return ``value`` as an int after checking type and range."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({_type_name(value)}).")
    value = int(value)
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}.")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {value}.")
    return value


def check_float(value, name, *, min_value=None, max_value=None,
                min_inclusive=True, max_inclusive=True):
    """Return ``value`` as a float after checking type, finiteness and range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({_type_name(value)}).")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    if min_value is not None and (value < min_value or (not min_inclusive and value == min_value)):
        op = ">=" if min_inclusive else ">"
        raise ValueError(f"{name} must be {op} {min_value}, got {value}.")
    if max_value is not None and (value > max_value or (not max_inclusive and value == max_value)):
        op = "<=" if max_inclusive else "<"
        raise ValueError(f"{name} must be {op} {max_value}, got {value}.")
    return value


def check_option(value, name, options):
    """Check that ``value`` is one of ``options`` (compared with ==)."""
    if isinstance(value, np.ndarray) or not any(
        value is opt or (type(value) is type(opt) and value == opt) for opt in options
    ):
        raise ValueError(f"{name} must be one of {list(options)!r}, got {value!r}.")
    return value


# ------------------------------------------------------------- masked NMF

def check_mask(mask, shape, name="mask"):
    """Validate a mask of observed entries (True = observed) for an X of ``shape``.

    Accepts a boolean (or 0/1) array-like, or a scipy.sparse matrix whose
    stored non-zeros mark the observed entries. Returns a bool ndarray or a
    CSR matrix.
    """
    if sp.issparse(mask):
        if mask.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got {mask.ndim}-D.")
        out = sp.csr_matrix(mask)
    else:
        try:
            out = np.asarray(mask)
        except Exception as exc:
            raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
        if out.dtype != bool:
            if out.dtype.kind not in "biuf" or not np.isin(out, (0, 1)).all():
                raise ValueError(f"{name} must be boolean (True where X is observed), got "
                                 f"dtype {out.dtype}.")
            out = out.astype(bool)
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(out.shape)}, but X has shape "
                         f"{tuple(shape)}; they must match.")
    return out


def check_observed_lines(X_obs, name="X", axis="both"):
    """Raise if a row (or, with axis='both', a column) has no observed entry.

    ``X_obs`` is the CSR of observed entries. Masked NMF cannot estimate a
    factor row that no observed entry touches.
    """
    m, n = X_obs.shape
    checks = [("row", np.diff(X_obs.indptr))]
    if axis == "both":
        checks.append(("column", np.bincount(X_obs.indices, minlength=n)))
    for what, counts in checks:
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            shown = ", ".join(str(i) for i in empty[:10]) + (", ..." if empty.size > 10 else "")
            raise ValueError(
                f"{name} has {empty.size} {what}(s) with no observed entry (all NaN or "
                f"mask=False): {what} index {shown}. Masked NMF needs at least one "
                f"observed entry in every {what}; drop those {what}s or observe an entry."
            )


# -------------------------------------------------------------- deep NMF

def check_layer_sizes(layer_sizes, shape=None, name="layer_sizes"):
    """Validate the layer sizes of a deep NMF: positive ints, strictly decreasing.

    Returns them as a list of int.
    """
    if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__iter__"):
        raise TypeError(f"{name} must be a sequence of ints such as [64, 16], got "
                        f"{layer_sizes!r}.")
    sizes = list(layer_sizes)
    if not sizes:
        raise ValueError(f"{name} must hold at least one layer size, got {layer_sizes!r}.")
    for i, k in enumerate(sizes):
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise TypeError(f"{name}[{i}] must be an int, got {k!r} ({_type_name(k)}).")
        if k < 1:
            raise ValueError(f"{name}[{i}] must be >= 1, got {k} (layer sizes must be "
                             "positive).")
    for i in range(1, len(sizes)):
        if sizes[i] >= sizes[i - 1]:
            raise ValueError(
                f"{name} must be strictly decreasing (each layer coarser than the one "
                f"before), got {sizes!r}: {name}[{i}]={sizes[i]} >= "
                f"{name}[{i - 1}]={sizes[i - 1]}."
            )
    return [int(k) for k in sizes]
