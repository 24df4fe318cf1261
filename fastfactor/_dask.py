"""Dask plumbing shared by the distributed paths: detection, row blocks, tree sums."""
import numpy as np


def is_dask_array(X):
    """True for a ``dask.array.Array`` (without importing dask)."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks") and hasattr(
        X, "to_delayed")


def prepare(X):
    """Check a dask X and return it with one chunk across the columns.

    Raises a ValueError for unknown chunk sizes (which would make the row
    blocks impossible to line up with W) and for non-2-D arrays.
    """
    import dask.array as da

    if X.ndim != 2:
        raise ValueError(f"Expected a 2D dask array for X, got {X.ndim}D with shape {X.shape}.")
    if any(np.isnan(c) for c in X.chunks[0] + X.chunks[1]):
        raise ValueError("X has unknown chunk sizes (NaN in X.chunks); call "
                         "X.compute_chunk_sizes() first, so that rows can be lined up with W.")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must hold real numbers, got dtype {X.dtype}.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if len(X.chunks[1]) > 1:  # a row block must hold whole rows
        X = X.rechunk({1: -1})
    return X, da


def tree_sum(dask, parts):
    """Pairwise sums of delayed values (a tree, so no single task gets them all)."""
    while len(parts) > 1:
        parts = [dask.delayed(_add)(parts[i], parts[i + 1]) if i + 1 < len(parts)
                 else parts[i] for i in range(0, len(parts), 2)]
    return parts[0]


def _add(a, b):
    return tuple(x + y for x, y in zip(a, b))
