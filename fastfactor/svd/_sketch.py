"""The randomized SVD's algorithm, written once for every operand.

:func:`sketch_svd` runs on an *operand* (M in memory,
:class:`~fastfactor.svd._operands.InMemoryOperand`, or in Dask row blocks,
``fastfactor.svd._dask.DaskOperand``): it only multiplies by M and M^T and
hands the tall pieces it gets to the operand's two
:class:`~fastfactor.svd._side.Side` objects (``op.rows`` for pieces with M's
rows, ``op.cols`` for pieces with M's columns).

How the sketch is computed
--------------------------
The power iterations only have to find a subspace; its accuracy is limited
by the randomized method (``(sigma_{k+1}/sigma_k)**(2q+1)``), not by the
arithmetic, so for float64 input they run in float32 (half the memory
traffic, twice the BLAS speed) and only the final pass, which makes the
factors, runs in float64 (``sketch_dtype='auto'``). The sketch is taken on
the row side: ``W = orth((M^T M)^q M^T Omega)`` and the factors come from the
SVD of ``M @ W``, so ``U * S == M @ V`` exactly and ``fit_transform`` needs no
extra pass over the data. The final projection keeps the last *two* iterates
(a two-block Krylov space): at the same number of power iterations the
error is clearly smaller than scikit-learn's, so ``n_iter='auto'`` needs 5/3
iterations where scikit-learn uses 7/4. Normalisation between iterations is
a Cholesky QR (BLAS-3 only) with a Householder fallback.
"""
import numpy as np
import scipy.linalg

from ._energy import FIRST_BLOCK, energy_target, next_block

# With a float32 sketch, a requested singular value smaller than this
# fraction of the largest is near float32's resolution: one float64 power
# iteration then cleans the subspace (see refine).
FLOAT32_RESOLUTION = 1e-3


def sketch_svd(op, mode, value, *, n_oversamples, n_iter, normalizer, rng, block_size,
               driver):
    """The sketched SVD of the operand's M, before truncation.

    Parameters
    ----------
    op : operand
    mode, value : ('rank', k) or ('energy', fraction)
    n_oversamples, n_iter, block_size : validated ints ('auto' for block_size)
    normalizer : {'QR', 'LU', 'cholesky', 'none'}
    rng : numpy RandomState
    driver : {'gesdd', 'gesvd'}
        LAPACK driver of the small SVD.

    Returns
    -------
    U : piece of ``op.rows`` with l >= k columns
    S : ndarray of shape (l,)
    Vt : ``op.cols.right_factor`` (for dense pieces, an ndarray of shape (l, n))
    k : int
        The rank asked for, or found for the energy fraction.
    """
    if mode == "rank":
        k = value
        W, C = fixed_rank(op, min(k + n_oversamples, min(op.shape)), n_iter, normalizer, rng)
    else:
        W, C, k = grow_until_energy(op, value, n_oversamples=n_oversamples, n_iter=n_iter,
                                    normalizer=normalizer, rng=rng, block_size=block_size)
    U, S, Vt = svd_of_projection(op, W, C, driver)
    if (op.sketch_dtype != op.dtype and S[0] > 0
            and S[min(k, len(S)) - 1] < FLOAT32_RESOLUTION * S[0]):
        # the requested components reach below float32's resolution: clean up in float64
        W, C = refine(op, W, C)
        U, S, Vt = svd_of_projection(op, W, C, driver)
    return U, S, Vt, k


def power_block(op, Z, n_iter, normalizer, Q=None):
    """Row-space block ``(M^T M)^n_iter M^T Z`` (deflated against Q), in the sketch dtype.

    Returns the block and the normalized iterate before the last
    ``M^T M`` product (None when ``n_iter == 0``).
    """
    rows, cols = op.rows, op.cols
    Qs = None if Q is None else cols.astype(Q, op.sketch_dtype)
    W = op.sketch.rmatmul(Z)
    previous = None
    for _ in range(n_iter):
        if Qs is not None:
            W = cols.project_out(W, Qs)
        W = previous = cols.normalize(W, normalizer)
        Y = rows.normalize(op.sketch.matmul(W), normalizer)
        W = op.sketch.rmatmul(Y)
    return W, previous


def finish(op, W, previous=None):
    """Orthonormal basis of span(W, previous) in the working dtype, and C = M @ basis."""
    cols = op.cols
    W = cols.orthonormalize(cols.astype(W, op.dtype))
    if previous is not None:
        W = cols.hstack([W, cols.extend_basis(W, cols.astype(previous, op.dtype))])
    return W, op.matmul(W)


def fixed_rank(op, size, n_iter, normalizer, rng):
    """Row-space basis W and C = M @ W for a rank-``size`` sketch.

    The last two iterates of the power iteration are both kept (a two-block
    Krylov space, at the price of a final pass twice as wide): the best
    rank-k approximation with rows in a larger subspace is never worse, and
    on flat spectra it is clearly better than the last iterate alone.
    """
    Z = op.gaussian(rng, size)
    W, previous = power_block(op, Z, n_iter, normalizer)
    return finish(op, W, previous)


def refine(op, W, C):
    """One float64 subspace iteration from the current basis: W <- orth(M^T M W)."""
    Y = op.rows.orthonormalize(C)
    W = op.cols.orthonormalize(op.rmatmul(Y))
    return W, op.matmul(W)


def svd_of_projection(op, W, C, driver="gesdd"):
    """SVD of M ~ C W^T with W orthonormal: returns U, S, Vt (all columns).

    C (m, l) is tall: it is first reduced to its l x l triangular factor
    (CholeskyQR2 when well conditioned), whose SVD is cheap.
    """
    rows = op.rows
    if C.shape[0] >= 4 * C.shape[1]:
        Q = rows.cholesky_qr(C, rounds=2)
        if Q is not None:
            R = rows.crossprod(Q, C)
            Ur, S, Vct = scipy.linalg.svd(R, check_finite=False, lapack_driver=driver)
            return rows.times(Q, Ur), S, op.cols.right_factor(W, Vct)
    U, S, Vct = rows.thin_svd(C, driver)
    return U, S, op.cols.right_factor(W, Vct)


def grow_until_energy(op, fraction, *, n_oversamples, n_iter, normalizer, rng, block_size):
    """Grow a row-space basis block by block until it holds ``fraction`` of ||M||_F^2.

    Returns W (n, l) orthonormal, C = M @ W, and the rank k found.

    Each new block is a Gaussian sketch pushed through ``n_iter`` power
    iterations of the *deflated* matrix ``M (I - W W^T)``, so it finds the
    next directions rather than the ones already held; it is then
    re-orthogonalized against W (twice) in the working dtype. After each
    block the squared singular values of ``M W`` (the eigenvalues of the
    small Gram matrix ``C^T C``) give the energy of the best rank-j
    approximation inside the current subspace, which never exceeds the true
    ``sum_{i<=j} sigma_i^2``; growth stops at the first rank k that reaches
    the target with ``n_oversamples`` extra columns behind it (or when the
    basis spans the whole row space).
    """
    rows, cols = op.rows, op.cols
    max_rank = min(op.shape)
    total = op.sq_norm
    W = cols.empty(0, op.dtype)
    C = rows.empty(0, op.dtype)
    G = np.empty((0, 0), dtype=np.float64)
    b = block_size if block_size != "auto" else FIRST_BLOCK + n_oversamples
    while True:
        l = W.shape[1]
        b = min(b, max_rank - l)
        Z = op.gaussian(rng, b)
        Wb, _ = power_block(op, Z, n_iter, normalizer, Q=W)
        Wb = cols.extend_basis(W, cols.astype(Wb, op.dtype))
        Cb = op.matmul(Wb)
        # grow the Gram matrix C^T C (float64) by one block row/column
        cross = rows.crossprod(C, Cb).astype(np.float64)
        G = np.block([[G, cross], [cross.T, rows.crossprod(Cb, Cb).astype(np.float64)]])
        W = cols.hstack([W, Wb])
        C = rows.hstack([C, Cb])
        l = W.shape[1]
        energies = np.clip(scipy.linalg.eigvalsh(G, check_finite=False)[::-1], 0, None)
        k = energy_target(energies, total, fraction)
        if l >= max_rank:
            if k is None:  # rounding: the whole row space is held, so is all the energy
                k = energy_target(energies, total * (1 - 1e-5), fraction) or l
            return W, C, k
        if k is not None and k + n_oversamples <= l:
            return W, C, k
        if block_size == "auto":
            b = next_block(energies, fraction * total, k, l, n_oversamples)
