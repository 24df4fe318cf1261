"""What the kernel wrappers share: argument checks and casts, work estimates.

The checks are cheap (O(1), a copy only when an array is not already
C-contiguous in the right dtype); values are not inspected (see the package
docstring). Work estimates feed ``fastfactor._utils.threads.threads_for``.
"""
import numpy as np
import scipy.sparse as sp


def float_dtype(*arrays):
    """float32 when every array is float32, float64 otherwise."""
    return np.float32 if all(a.dtype == np.float32 for a in arrays) else np.float64


def as_c(a, dtype, name):
    """``a`` as a C-contiguous 2-D array of ``dtype`` (copied only when needed)."""
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=dtype)


def inplace(a, name):
    """``a`` itself, after checking a kernel can update it in place."""
    if not isinstance(a, np.ndarray) or a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D numpy array (it is updated in place)")
    if a.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} must be float32 or float64 (it is updated in place), "
                         f"got {a.dtype}")
    if not a.flags.c_contiguous or not a.flags.writeable:
        raise ValueError(f"{name} must be C-contiguous and writeable (it is updated in place)")
    return a


def output_array(out, shape, dtype):
    """A new array for a kernel's result, or the caller's ``out`` once checked."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    out = inplace(out, "out")
    check_shape("out", out.shape, shape)
    if out.dtype != dtype:
        raise ValueError(f"out must have dtype {np.dtype(dtype)}, got {out.dtype}")
    return out


def gram_system(factor, factor_name, rhs, rhs_name, gram, gram_name):
    """Check the operands of row-wise problems on a Gram matrix.

    The factor (n, k) is updated in place; the right-hand sides (n, k) and
    the Gram matrix (k, k) are cast to its dtype.
    """
    factor = inplace(factor, factor_name)
    n, k = factor.shape
    rhs = as_c(rhs, factor.dtype, rhs_name)
    gram = as_c(gram, factor.dtype, gram_name)
    check_shape(rhs_name, rhs.shape, (n, k))
    check_shape(gram_name, gram.shape, (k, k))
    return factor, rhs, gram


def csr(A, dtype, name):
    """``(data, indices, indptr, shape)`` of A as canonical CSR, data in ``dtype``."""
    if not (sp.issparse(A) and A.format == "csr"):
        A = sp.csr_matrix(A)
    # (a CSR input is used as given: scipy caches the O(nnz) canonical-format
    # check on the object, so a fit's repeated products pay for it once)
    if not A.has_canonical_format:
        A = A.copy()
        A.sum_duplicates()
    return (np.ascontiguousarray(A.data, dtype=dtype),
            np.ascontiguousarray(A.indices, dtype=np.intp),
            np.ascontiguousarray(A.indptr, dtype=np.intp), A.shape)


def check_shape(name, actual, expected):
    """Raise a ValueError naming ``name`` unless its shape is ``expected``."""
    if tuple(actual) != tuple(expected):
        raise ValueError(f"{name} has shape {tuple(actual)}, expected {tuple(expected)}")


def coordinate_sweeps(permutation, max_inner, k):
    """The checked coordinate order (intp) and sweep count of a HALS update."""
    perm = np.arange(k, dtype=np.intp) if permutation is None else np.ascontiguousarray(
        permutation, dtype=np.intp)
    if perm.shape != (k,) or (k and (perm.min() < 0 or perm.max() >= k)):
        raise ValueError(f"permutation must hold {k} indices in [0, {k}), got {perm!r}")
    if max_inner < 1:
        raise ValueError(f"max_inner must be >= 1, got {max_inner}")
    return perm, int(max_inner)


def sweep_work(n_rows, k, max_sweeps):
    """Work of coordinate sweeps over ``n_rows`` rows of ``k`` coordinates.

    A sweep costs about ``k * k`` per row; most rows stop within a few
    sweeps, so at most four are counted.
    """
    return n_rows * k * k * max(1, min(int(max_sweeps), 4))
