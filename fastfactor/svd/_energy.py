"""Rank by energy: the fraction of a matrix's energy its leading components keep.

'squared' energy (the variance kept) compares cumulative squared singular
values with ``||M||_F^2``, which is known exactly without an SVD; 'linear'
energy compares the singular values themselves with their sum, which needs
every one of them (from the Gram matrix of the smaller side).
"""
import numpy as np
import scipy.linalg

from .._utils.validation import check_float, check_option
from ._params import ENERGY_CONVENTIONS

#: energy='linear' needs every singular value; they come from the Gram matrix
#: of the smaller side, which must fit in memory (this many rows/columns).
MAX_GRAM_SIDE = 20000

# energy mode, block_size='auto': the first block holds FIRST_BLOCK + n_oversamples
# columns, the next ones GROWTH times the lower bound of what is missing.
# Every block costs 2 n_iter + 2 passes over M whatever its width, and a
# pass over M costs much more than a few more columns in it: fewer, wider
# blocks are cheaper (measured on the svd-energy benchmark).
GROWTH = 2.0
FIRST_BLOCK = 22


def energy_target(values, total, fraction):
    """Smallest k with cumsum(values)[k-1] >= fraction * total, or None."""
    cum = np.cumsum(values, dtype=np.float64)
    k = int(np.searchsorted(cum, fraction * total, side="left")) + 1
    return k if k <= len(cum) else None


def energy_rank(singular_values, fraction, total=None, energy="squared"):
    """Smallest rank whose singular values keep ``fraction`` of the energy.

    Parameters
    ----------
    singular_values : array-like of shape (r,)
        Singular values in decreasing order (possibly only the leading ones).
    fraction : float in (0, 1)
    total : float, optional
        The energy of the whole matrix: ``||X||_F^2`` for ``energy='squared'``
        and the nuclear norm (sum of all singular values) for ``'linear'``.
        Default: the energy of the values given (they are all of them).
    energy : {'squared', 'linear'}
        Sum squared singular values, or the singular values themselves.

    Returns
    -------
    int
        The rank, or ``len(singular_values)`` when the values given do not
        reach the target.
    """
    check_option(energy, "energy", ENERGY_CONVENTIONS)
    fraction = check_float(fraction, "fraction", min_value=0, max_value=1,
                           min_inclusive=False, max_inclusive=False)
    s = np.asarray(singular_values, dtype=np.float64)
    values = s ** 2 if energy == "squared" else s
    if total is None:
        total = values.sum()
    k = energy_target(values, total, fraction)
    return len(s) if k is None else k


def next_block(energies, target, k, l, n_oversamples):
    """Columns to add next: about what the target still needs, never a few at a time.

    Each component still to come holds at most about the smallest energy
    captured so far, so the missing energy divided by it is a lower bound
    of the components still needed; asking for that many (plus the
    oversamples) at once keeps the number of passes over M small without
    overshooting the rank by more than the estimate's slack.
    """
    if k is not None:  # reached, but without n_oversamples columns to spare
        return max(8, k + n_oversamples - l)
    deficit = target - float(np.sum(energies))
    smallest = float(energies[-1])
    needed = deficit / smallest if smallest > 0 else np.inf
    return int(max(8, min(GROWTH * needed, 1e9) + 2 * n_oversamples))


def check_gram_side(size):
    """Refuse energy='linear' when the Gram matrix of the smaller side would be too large."""
    if size > MAX_GRAM_SIDE:
        raise ValueError(
            f"energy='linear' needs every singular value (their sum is the denominator), "
            f"computed from a {size}x{size} Gram matrix, larger than the limit "
            f"fastfactor.svd.MAX_GRAM_SIDE={MAX_GRAM_SIDE}; use energy='squared' (exact "
            "without a full SVD) or an int n_components."
        )


def singular_values_from_gram(G):
    """Every singular value (decreasing) of a matrix whose float64 Gram matrix is G.

    G is overwritten. The small singular values carry an absolute error of
    about ``sqrt(eps) * sigma_1`` (squaring halves the precision), which is
    negligible in a sum over all of them (the nuclear norm).
    """
    lam = scipy.linalg.eigvalsh(G, check_finite=False, overwrite_a=True)[::-1]
    return np.sqrt(np.clip(lam, 0, None))
