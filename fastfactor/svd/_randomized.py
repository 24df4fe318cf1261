"""randomized_svd: the in-memory entry point of the randomized SVD.

Validation, the exact thin SVD for full-rank requests, the choice of side
(``transpose``), the rank for linear energy and the sign convention; the
sketch itself is :func:`fastfactor.svd._sketch.sketch_svd` on an
:class:`~fastfactor.svd._operands.InMemoryOperand`.
"""
import numpy as np
import scipy.linalg
import scipy.sparse as sp

from .._utils.linalg import flip_signs
from .._utils.validation import check_array, check_int, check_option, check_random_state
from ._energy import check_gram_side, energy_rank, singular_values_from_gram
from ._operands import InMemoryOperand, csr_transpose, smaller_side_gram
from ._params import (
    ENERGY_CONVENTIONS,
    NORMALIZERS,
    SKETCH_DTYPES,
    check_n_components,
    default_n_iter,
    resolve_sketch,
)
from ._sketch import sketch_svd

#: a full-rank request on a dense M of at most this many entries is answered
#: by LAPACK's exact thin SVD, which works on a copy of M; a larger M keeps
#: the randomized path, which never copies it
EXACT_SVD_MAX_ENTRIES = 1 << 25


def all_singular_values(M):
    """Every singular value of M (values only), from the Gram matrix of the smaller side.

    float64 throughout; O(m n min(m, n)) time and min(m, n)^2 memory.
    """
    check_gram_side(min(M.shape))
    return singular_values_from_gram(smaller_side_gram(M))


def validated_randomized_svd(M, n_components, *, n_oversamples, n_iter,
                             power_iteration_normalizer, transpose, random_state,
                             svd_lapack_driver="gesdd", energy="squared", sketch_dtype="auto",
                             block_size="auto", n_threads=None):
    """Core of :func:`randomized_svd` for a validated M: returns U, S, Vt (unflipped)."""
    max_rank = min(M.shape)
    mode, value = check_n_components(n_components, max_rank)
    n_oversamples = check_int(n_oversamples, "n_oversamples", min_value=0)
    check_option(energy, "energy", ENERGY_CONVENTIONS)
    check_option(svd_lapack_driver, "svd_lapack_driver", ("gesdd", "gesvd"))
    if block_size != "auto":
        block_size = check_int(block_size, "block_size", min_value=1)
    if n_iter != "auto":
        n_iter = check_int(n_iter, "n_iter", min_value=0)
    check_option(power_iteration_normalizer, "power_iteration_normalizer", NORMALIZERS)
    if transpose != "auto" and not isinstance(transpose, (bool, np.bool_)):
        raise TypeError(f"transpose must be a bool or 'auto', got {transpose!r}.")
    check_option(sketch_dtype, "sketch_dtype", SKETCH_DTYPES)
    rng = check_random_state(random_state)

    if mode == "energy" and energy == "linear":
        # the plain sum of singular values needs all of them (see randomized_svd's Notes)
        mode, value = "rank", energy_rank(all_singular_values(M), value, energy="linear")

    if transpose == "auto":
        transpose = M.shape[0] < M.shape[1]
    if transpose:
        M = csr_transpose(M) if sp.issparse(M) else M.T  # a view: BLAS takes either layout
    if n_iter == "auto":
        n_iter = default_n_iter(mode, value, max_rank)
    if (mode == "rank" and not sp.issparse(M) and value + n_oversamples >= max_rank
            and M.size <= EXACT_SVD_MAX_ENTRIES):
        # the sketch would span the whole smaller side of M: the exact thin SVD
        # is then cheaper than the power iterations (5000 x 256 at full rank:
        # 0.09 s against 0.41 s) and exact. The sketch's Gaussian draws are
        # still taken, so the random stream goes on as it would have.
        rng.standard_normal(size=(M.shape[0], max_rank))
        U, S, Vt = scipy.linalg.svd(M, full_matrices=False, check_finite=False,
                                    lapack_driver=svd_lapack_driver)
        U, S, Vt = U[:, :value], S[:value], Vt[:value]
    else:
        sketch, normalizer = resolve_sketch(sketch_dtype, power_iteration_normalizer, n_iter,
                                            M.dtype)
        op = InMemoryOperand(M, sketch, n_threads)
        U, S, Vt, k = sketch_svd(op, mode, value, n_oversamples=n_oversamples, n_iter=n_iter,
                                 normalizer=normalizer, rng=rng, block_size=block_size,
                                 driver=svd_lapack_driver)
        U, S, Vt = U[:, :k], S[:k], Vt[:k]
    if transpose:
        U, Vt = Vt.T, U.T
    return np.ascontiguousarray(U), S, np.ascontiguousarray(Vt)


def randomized_svd(M, n_components, *, n_oversamples=10, n_iter="auto",
                   power_iteration_normalizer="auto", transpose="auto", flip_sign=True,
                   random_state=None, svd_lapack_driver="gesdd", energy="squared",
                   sketch_dtype="auto", block_size="auto"):
    """Truncated SVD by a randomized range finder; the rank can be chosen by energy.

    A drop-in for :func:`sklearn.utils.extmath.randomized_svd` (same
    parameters, same sign convention), plus ``n_components`` as an energy
    fraction.

    Parameters
    ----------
    M : {array-like, sparse matrix} of shape (n_samples, n_features)
        Matrix to decompose. float32 stays float32; sparse input is never
        densified.
    n_components : int or float
        An int is the number of singular triplets to return
        (``1 <= n_components <= min(M.shape)``). A float in (0, 1) is the
        fraction of the energy to keep: the rank returned is the smallest k
        with ``sum(s[:k]**2) >= n_components * ||M||_F^2`` (for
        ``energy='squared'``), found by growing a randomized sketch block by
        block (never a full SVD), see Notes.
    n_oversamples : int, default=10
        Extra random vectors for a better range estimate; in energy mode,
        how many columns the sketch must hold beyond the rank found.
    n_iter : int or 'auto', default='auto'
        Power iterations. 'auto': 5 when ``n_components < 0.1 * min(M.shape)``,
        else 3 (scikit-learn uses 7 and 4: because the last two iterates
        both enter the final projection, 5 and 3 already give a smaller
        reconstruction error than scikit-learn's defaults); 4 per block in
        energy mode.
    power_iteration_normalizer : {'auto', 'QR', 'LU', 'none'}, default='auto'
        Re-normalisation between power iterations ('auto': 'LU' when
        ``n_iter > 2`` else 'none'; 'none' still rescales the columns,
        which keeps the span and prevents overflow).
    transpose : bool or 'auto', default='auto'
        Work on ``M.T`` ('auto': when ``n_samples < n_features``).
    flip_sign : bool, default=True
        Make the signs deterministic: the largest-magnitude entry of each
        column of U is positive (scikit-learn's convention).
    random_state : int, RandomState, Generator or None
    svd_lapack_driver : {'gesdd', 'gesvd'}, default='gesdd'
        LAPACK driver for the SVD of the small projected matrix.
    energy : {'squared', 'linear'}, default='squared'
        What "energy" means for a float ``n_components``: 'squared' sums the
        squared singular values against ``||M||_F^2`` (the variance kept);
        'linear' sums the singular values themselves against their total,
        the nuclear norm (the classic image-compression recipe). See Notes
        for what 'linear' costs.
    sketch_dtype : {'auto', 'float32', 'float64'}, default='auto'
        Precision of the power iterations. 'auto' uses float32 (the factors
        are still computed in the input's precision from the final pass);
        'float64' keeps float64 throughout (float32 input is always
        sketched in float32). When a
        requested singular value falls below 1e-3 times the largest, one
        extra float64 power iteration cleans the float32 subspace.
    block_size : int or 'auto', default='auto'
        Energy mode: columns added to the sketch per step. 'auto' starts
        with ``22 + n_oversamples`` and then adds twice what the missing
        energy needs at least (the missing energy over the smallest energy
        captured) plus ``2 * n_oversamples``: few, wide blocks, since each
        costs ``2 n_iter + 2`` passes over M.

    Returns
    -------
    U : ndarray of shape (n_samples, k)
    S : ndarray of shape (k,)
    Vt : ndarray of shape (k, n_features)
        ``k`` is ``n_components`` or the rank found for the energy fraction.

    Notes
    -----
    **Rank by squared energy, without a full SVD.** ``||M||_F^2`` is exact
    and cheap. The sketch grows in blocks; each block is a Gaussian matrix
    pushed through ``n_iter`` power iterations of ``M`` deflated by the
    current basis, then re-orthogonalized against it. After each block the
    singular values of ``M`` projected on the basis (from a small Gram
    matrix) give, for every j, the energy of the best rank-j approximation
    inside the subspace; this is a lower bound of ``sum(s[:j]**2)``, so the
    rank found is never smaller than the exact one, and with power
    iterations it is the exact one unless the target falls within rounding
    of a boundary. Growth stops once some rank reaches the target with
    ``n_oversamples`` columns to spare. Typically two or three blocks are
    enough, and the search costs about as much as a randomized SVD at the
    rank found (``fastfactor bench``, problem ``svd-energy``).

    **Full rank.** When ``n_components + n_oversamples`` reaches
    ``min(M.shape)`` for a dense M (of up to 2**25 entries: LAPACK works on
    a copy), the sketch would span M's whole smaller side, and the exact
    thin SVD is computed instead: cheaper, and exact. The random draws the
    sketch would have made are still made.

    **Rank by linear energy.** The denominator, the sum of *all* singular
    values, cannot be had from a partial sketch: fastfactor computes every
    singular value exactly (values only, the eigenvalues of the float64 Gram
    matrix of the smaller side: ``O(m n min(m, n))`` time and
    ``min(m, n)**2`` memory, refused beyond ``MAX_GRAM_SIDE``), picks the
    rank, then runs the randomized SVD at that rank. It is meant for
    image-sized matrices; use 'squared' for big ones.
    """
    M = check_array(M, name="M", accept_sparse=True, whom="randomized_svd")
    U, S, Vt = validated_randomized_svd(
        M, n_components, n_oversamples=n_oversamples, n_iter=n_iter,
        power_iteration_normalizer=power_iteration_normalizer, transpose=transpose,
        random_state=random_state, svd_lapack_driver=svd_lapack_driver, energy=energy,
        sketch_dtype=sketch_dtype, block_size=block_size)
    if flip_sign:
        U, Vt = flip_signs(U, Vt, u_based=True)
    return U, S, Vt
