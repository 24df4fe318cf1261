"""Truncated SVD: randomized range finder, ARPACK, and rank chosen by energy.

Two entry points, drop-ins for scikit-learn's:

* :func:`randomized_svd` (Halko, Martinsson & Tropp 2011), and
* :class:`TruncatedSVD` (``algorithm='randomized'`` or ``'arpack'``).

Both also accept ``n_components`` as a fraction in (0, 1): the rank is then
the smallest one whose components keep that fraction of the matrix's
*energy*, found without a full SVD (see :func:`randomized_svd`).

How the randomized sketch is computed
-------------------------------------
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
a Cholesky QR (BLAS-3 only) with a Householder fallback. Sparse input is
never densified: the float32 sketch uses scipy's products, the final
float64 pass the parallel :func:`fastfactor.kernels.csr_matmul`.
"""
import numbers

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from .._base import BaseEstimator, TransformerMixin, check_is_fitted
from .._utils.dask import is_dask_array
from ..nmf._data import NMFData
from .._utils.validation import (
    check_array,
    check_float,
    check_int,
    check_option,
    check_random_state,
    validate_data,
)

__all__ = ["randomized_svd", "TruncatedSVD", "energy_rank"]

ENERGY_CONVENTIONS = ("squared", "linear")
NORMALIZERS = ("auto", "QR", "LU", "none")
SKETCH_DTYPES = ("auto", "float32", "float64")

#: energy='linear' needs every singular value; they come from the Gram matrix
#: of the smaller side, which must fit in memory (this many rows/columns).
MAX_GRAM_SIDE = 20000

# With a float32 sketch, a requested singular value smaller than this
# fraction of the largest is near float32's resolution: one float64 power
# iteration then cleans the subspace (see _refine).
_FLOAT32_RESOLUTION = 1e-3

#: a full-rank request on a dense M of at most this many entries is answered
#: by LAPACK's exact thin SVD, which works on a copy of M; a larger M keeps
#: the randomized path, which never copies it
_EXACT_SVD_MAX_ENTRIES = 1 << 25


# --------------------------------------------------------------------------
# parameter checks shared by the function and the estimator
# --------------------------------------------------------------------------

def _check_n_components(n_components, max_rank, name="n_components"):
    """Return ('rank', k) or ('energy', fraction)."""
    if isinstance(n_components, bool) or not isinstance(n_components, numbers.Real):
        raise TypeError(
            f"{name} must be an int (a rank) or a float in (0, 1) (a fraction of the energy), "
            f"got {n_components!r} ({type(n_components).__name__})."
        )
    if isinstance(n_components, numbers.Integral):
        return "rank", check_int(n_components, name, min_value=1, max_value=max_rank)
    fraction = float(n_components)
    if not (0.0 < fraction < 1.0):
        raise ValueError(
            f"{name} as a float is the fraction of the energy to keep and must be in (0, 1), "
            f"got {n_components!r}; pass an int for a rank."
        )
    return "energy", fraction


def _resolve_sketch(sketch_dtype, normalizer, n_iter, dtype):
    """Sketch dtype and power-iteration normalizer actually used.

    Un-normalized power iterations squeeze the trailing directions of the
    block below float32's resolution after a product or two, so a float32
    sketch always normalizes ('auto' -> 'cholesky'), and an explicit 'none'
    on float64 input keeps the sketch in float64 (scikit-learn's behaviour).
    float32 input is always sketched in float32.
    """
    check_option(sketch_dtype, "sketch_dtype", SKETCH_DTYPES)
    check_option(normalizer, "power_iteration_normalizer", NORMALIZERS)
    if dtype == np.float32:
        sketch = np.dtype(np.float32)
    elif sketch_dtype == "auto":
        sketch = np.dtype(np.float64 if normalizer == "none" else np.float32)
    else:
        sketch = np.dtype(sketch_dtype)
    if normalizer == "auto":
        # scikit-learn picks LU here; a one-round Cholesky QR does the same job
        # (keeps the block well conditioned) with BLAS-3 products only
        normalizer = ("none" if (n_iter <= 2 and sketch == np.float64) or n_iter == 0
                      else "cholesky")
    return sketch, normalizer


# --------------------------------------------------------------------------
# numerical pieces
# --------------------------------------------------------------------------

def _householder(Y):
    return scipy.linalg.qr(Y, mode="economic", check_finite=False)[0]


def _cholesky_qr(Y, rounds):
    """Q factor of a tall Y by Cholesky QR (Gram in float64), or None if Y is too ill-conditioned.

    Every step is a BLAS-3 product (the Gram matrix, then Y times the
    inverted triangle), much faster than Householder QR on tall-skinny blocks. ``rounds=2``
    (CholeskyQR2) is orthonormal to working precision when
    ``cond(Y) < 1e6``; ``rounds=1`` is enough to keep power iterations well
    conditioned.
    """
    for _ in range(rounds):
        Y64 = Y.astype(np.float64, copy=False)
        try:
            R = scipy.linalg.cholesky(Y64.T @ Y64, lower=False, check_finite=False)
        except np.linalg.LinAlgError:
            return None
        d = np.abs(np.diag(R))
        if not np.all(np.isfinite(d)) or d.min() <= 1e-6 * d.max():
            return None
        # Y R^{-1}: invert the small triangle, then one GEMM (faster than a
        # triangular solve with a tall right-hand side)
        R_inv = scipy.linalg.solve_triangular(R, np.eye(R.shape[0]), lower=False,
                                              check_finite=False)
        Y = Y @ R_inv.astype(Y.dtype, copy=False)
    return np.ascontiguousarray(Y)


def _orth(Y):
    """Orthonormal basis of the columns of Y (same dtype).

    CholeskyQR2 when Y is tall and well conditioned, else Householder QR
    (which also gives an orthonormal basis for a rank-deficient Y).
    """
    if Y.shape[0] >= 4 * Y.shape[1]:
        Q = _cholesky_qr(Y, rounds=2)
        if Q is not None:
            return Q
    return _householder(Y)


def _normalize(Y, normalizer):
    """Keep a power-iteration block well conditioned (its span is unchanged)."""
    if normalizer == "QR":
        return _orth(Y)
    if normalizer == "LU":
        return scipy.linalg.lu(Y, permute_l=True, check_finite=False, overwrite_a=True)[0]
    if normalizer == "cholesky":
        Q = _cholesky_qr(Y, rounds=1) if Y.shape[0] >= 4 * Y.shape[1] else None
        return Q if Q is not None else _householder(Y)
    # 'none': only rescale the columns, so that repeated products cannot
    # overflow (float32 reaches its limit after a few products otherwise)
    norms = np.sqrt(np.einsum("ij,ij->j", Y, Y))
    norms[norms == 0] = 1
    Y /= norms
    return Y


def _project_out(W, Q):
    """W - Q (Q^T W) in place, twice (classical Gram-Schmidt with re-orthogonalization)."""
    if Q.shape[1]:
        for _ in range(2):
            W -= Q @ (Q.T @ W)
    return W


def _extend_basis(Q, Y):
    """Orthonormal columns orthogonal to the orthonormal Q that extend it towards span(Y).

    Y is projected out of Q (twice); the directions of the remainder that
    keep more than 1e-3 of Y's scale are orthonormalized through the
    eigen-decomposition of their small Gram matrix, projected once more and
    re-normalized. Directions of Y already (nearly) inside span(Q) are
    dropped: orthonormalizing what is left of them would only magnify
    rounding noise that is not orthogonal to Q. So fewer than
    ``Y.shape[1]`` columns may come back; when none would, the Householder
    QR of ``[Q, Y]`` supplies columns orthogonal to Q to working precision
    (arbitrary directions: Y brings nothing new). At most
    ``n - Q.shape[1]`` columns are returned.
    """
    n, l = Q.shape
    Y = Y[:, :n - l]
    b = Y.shape[1]
    if b == 0:
        return Y
    scale = np.sqrt(np.max(np.einsum("ij,ij->j", Y, Y)))
    P = _project_out(Y.copy(), Q)
    P64 = P.astype(np.float64, copy=False)
    lam, V = np.linalg.eigh(P64.T @ P64)
    keep = lam > (1e-3 * scale) ** 2
    if np.any(keep) and n >= 4 * b:
        E = P @ (V[:, keep] / np.sqrt(lam[keep])).astype(P.dtype, copy=False)
        E = _cholesky_qr(_project_out(E, Q), rounds=1)
        if E is not None:
            return E
    return np.ascontiguousarray(_householder(np.hstack([Q, Y]))[:, l:l + b])


class _ScipySparseProducts:
    """Products of a sparse matrix by scipy (used for the float32 sketch).

    Measured on the 2-core machine, scipy's serial float32 CSR products beat
    :func:`fastfactor.kernels.csr_matmul`, which accumulates every row in
    float64 (right for the final pass, wasted on a sketch); ``M.T @ Y``
    runs on the CSR arrays directly, without a transposed copy.
    """

    def __init__(self, M):
        self.X = M

    def dot(self, B):
        return np.asarray(self.X @ B)

    def tdot(self, B):
        return np.asarray(self.X.T @ B)


class _Sketcher:
    """Products with M in the sketch dtype and in the working dtype.

    ``M`` is validated (C-contiguous ndarray or CSR with intp indices).
    The sketch copy is made once, only when its dtype differs.
    """

    def __init__(self, M, sketch_dtype, n_threads=None):
        self.data = NMFData(M, n_threads)
        self.shape = M.shape
        self.dtype = M.dtype
        if sp.issparse(M):
            self.sketch = _ScipySparseProducts(M.astype(sketch_dtype, copy=False))
        elif sketch_dtype == M.dtype:
            self.sketch = self.data
        else:
            self.sketch = NMFData(M.astype(sketch_dtype), n_threads)
        self.sketch_dtype = np.dtype(sketch_dtype)

    def power_block(self, Z, n_iter, normalizer, Q=None):
        """Row-space block ``(M^T M)^n_iter M^T Z`` (deflated against Q), in the sketch dtype.

        Returns the block and the normalized iterate before the last
        ``M^T M`` product (None when ``n_iter == 0``).
        """
        Qs = None if Q is None else Q.astype(self.sketch_dtype, copy=False)
        W = self.sketch.tdot(Z)
        previous = None
        for _ in range(n_iter):
            if Qs is not None:
                _project_out(W, Qs)
            W = previous = _normalize(W, normalizer)
            Y = _normalize(self.sketch.dot(W), normalizer)
            W = self.sketch.tdot(Y)
        return W, previous

    def finish(self, W, previous=None):
        """Orthonormal basis of span(W, previous) in the working dtype, and C = M @ basis."""
        W = _orth(W.astype(self.dtype))
        if previous is not None:
            W = np.hstack([W, _extend_basis(W, previous.astype(self.dtype))])
        return W, self.data.dot(W)


def _svd_of_projection(W, C, driver="gesdd"):
    """SVD of M ~ C W^T with W orthonormal: returns U, S, Vt (all columns).

    C (m, l) is tall: it is first reduced to its l x l triangular factor
    (CholeskyQR2 when well conditioned), whose SVD is cheap.
    """
    if C.shape[0] >= 4 * C.shape[1]:
        Q = _cholesky_qr(C, rounds=2)
        if Q is not None:
            R = Q.T @ C
            Ur, S, Vct = scipy.linalg.svd(R, check_finite=False, lapack_driver=driver)
            return Q @ Ur, S, Vct @ W.T
    Uc, S, Vct = scipy.linalg.svd(C, full_matrices=False, check_finite=False,
                                  lapack_driver=driver)
    return Uc, S, Vct @ W.T


def _fixed_rank(sk, size, n_iter, normalizer, rng):
    """Row-space basis W and C = M @ W for a rank-``size`` sketch.

    The last two iterates of the power iteration are both kept (a two-block
    Krylov space, at the price of a final pass twice as wide): the best
    rank-k approximation with rows in a larger subspace is never worse, and
    on flat spectra it is clearly better than the last iterate alone.
    """
    m = sk.shape[0]
    Z = rng.standard_normal(size=(m, size)).astype(sk.sketch_dtype, copy=False)
    W, previous = sk.power_block(Z, n_iter, normalizer)
    return sk.finish(W, previous)


def _refine(sk, W, C):
    """One float64 subspace iteration from the current basis: W <- orth(M^T M W)."""
    Y = _orth(C)
    W = _orth(sk.data.tdot(Y))
    return W, sk.data.dot(W)


def _energy_target(values, total, fraction):
    """Smallest k with cumsum(values)[k-1] >= fraction * total, or None."""
    cum = np.cumsum(values, dtype=np.float64)
    k = int(np.searchsorted(cum, fraction * total, side="left")) + 1
    return k if k <= len(cum) else None


def _grow_until_energy(sk, fraction, *, n_oversamples, n_iter, normalizer, rng,
                       block_size, max_rank):
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
    m, n = sk.shape
    dtype = sk.dtype
    total = sk.data.sq_norm
    W = np.empty((n, 0), dtype=dtype)
    C = np.empty((m, 0), dtype=dtype)
    G = np.empty((0, 0), dtype=np.float64)
    k = None
    b = block_size if block_size != "auto" else _FIRST_BLOCK + n_oversamples
    while True:
        l = W.shape[1]
        b = min(b, max_rank - l)
        Z = rng.standard_normal(size=(m, b)).astype(sk.sketch_dtype, copy=False)
        Wb, _ = sk.power_block(Z, n_iter, normalizer, Q=W)
        Wb = _extend_basis(W, Wb.astype(dtype))
        Cb = sk.data.dot(Wb)
        # grow the Gram matrix C^T C (float64) by one block row/column
        cross = (C.T @ Cb).astype(np.float64)
        G = np.block([[G, cross], [cross.T, (Cb.T @ Cb).astype(np.float64)]])
        W = np.hstack([W, Wb])
        C = np.hstack([C, Cb])
        l = W.shape[1]
        energies = np.clip(scipy.linalg.eigvalsh(G, check_finite=False)[::-1], 0, None)
        k = _energy_target(energies, total, fraction)
        if l >= max_rank:
            if k is None:  # rounding: the whole row space is held, so is all the energy
                k = _energy_target(energies, total * (1 - 1e-5), fraction) or l
            return W, C, k
        if k is not None and k + n_oversamples <= l:
            return W, C, k
        if block_size == "auto":
            b = _next_block(energies, fraction * total, k, l, n_oversamples)


# energy mode, block_size='auto': the first block holds _FIRST_BLOCK + n_oversamples
# columns, the next ones _GROWTH times the lower bound of what is missing.
# Every block costs 2 n_iter + 2 passes over M whatever its width, and a
# pass over M costs much more than a few more columns in it: fewer, wider
# blocks are cheaper (measured on the svd-energy benchmark).
_GROWTH = 2.0
_FIRST_BLOCK = 22


def _next_block(energies, target, k, l, n_oversamples):
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
    return int(max(8, min(_GROWTH * needed, 1e9) + 2 * n_oversamples))


def _all_singular_values(M):
    """Every singular value of M (values only), from the Gram matrix of the smaller side.

    float64 throughout; O(m n min(m, n)) time and min(m, n)^2 memory. The
    small singular values carry an absolute error of about
    ``sqrt(eps) * sigma_1`` (squaring halves the precision), which is
    negligible in a sum over all of them (the nuclear norm).
    """
    m, n = M.shape
    if min(m, n) > MAX_GRAM_SIDE:
        raise ValueError(
            f"energy='linear' needs every singular value (their sum is the denominator), "
            f"computed from a {min(m, n)}x{min(m, n)} Gram matrix, larger than the limit "
            f"fastfactor.svd.MAX_GRAM_SIDE={MAX_GRAM_SIDE}; use energy='squared' (exact "
            "without a full SVD) or an int n_components."
        )
    A = M.astype(np.float64)
    if m < n:
        A = A.T
    G = A.T @ A
    if sp.issparse(G):
        G = G.toarray()
    lam = scipy.linalg.eigvalsh(G, check_finite=False, overwrite_a=True)[::-1]
    return np.sqrt(np.clip(lam, 0, None))


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
    k = _energy_target(values, total, fraction)
    return len(s) if k is None else k


def _flip_signs(U, Vt, u_based=True):
    """scikit-learn's svd_flip: the largest-magnitude entry of each U column (or Vt row) > 0."""
    if u_based:
        signs = _sign_flips(U.T)
    else:
        signs = _sign_flips(Vt)
    signs = signs.astype(U.dtype, copy=False)
    return U * signs, Vt * signs[:, None]


def _sign_flips(rows):
    """+1/-1 per row: the sign of the row's largest-magnitude entry (+1 for a zero row)."""
    idx = np.argmax(np.abs(rows), axis=1)
    signs = np.sign(rows[np.arange(rows.shape[0]), idx])
    signs[signs == 0] = 1
    return signs


# --------------------------------------------------------------------------
# public function
# --------------------------------------------------------------------------

def _randomized_svd(M, n_components, *, n_oversamples, n_iter, power_iteration_normalizer,
                    transpose, random_state, svd_lapack_driver="gesdd", energy="squared",
                    sketch_dtype="auto", block_size="auto", n_threads=None):
    """Validated core of :func:`randomized_svd`: returns U, S, Vt (unflipped)."""
    max_rank = min(M.shape)
    mode, value = _check_n_components(n_components, max_rank)
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
        # the plain sum of singular values needs all of them (see the docstring)
        s_all = _all_singular_values(M)
        mode, value = "rank", energy_rank(s_all, value, energy="linear")

    if transpose == "auto":
        transpose = M.shape[0] < M.shape[1]
    if transpose:
        if sp.issparse(M):
            M = M.T.tocsr()
            M.indices = M.indices.astype(np.intp, copy=False)
            M.indptr = M.indptr.astype(np.intp, copy=False)
        else:
            M = M.T  # a view: BLAS takes either layout
    if n_iter == "auto":
        # scikit-learn uses 7 / 4; keeping the previous iterate in the final
        # projection reaches a smaller error with 5 / 3 (tests/test_svd.py)
        n_iter = (5 if value < 0.1 * max_rank else 3) if mode == "rank" else 4
    if (mode == "rank" and not sp.issparse(M) and value + n_oversamples >= max_rank
            and M.size <= _EXACT_SVD_MAX_ENTRIES):
        # the sketch would span the whole smaller side of M: the exact thin SVD
        # is then cheaper than the power iterations (5000 x 256 at full rank:
        # 0.09 s against 0.41 s) and exact. The sketch's Gaussian draws are
        # still taken, so the random stream goes on as it would have.
        rng.standard_normal(size=(M.shape[0], max_rank))
        U, S, Vt = scipy.linalg.svd(M, full_matrices=False, check_finite=False,
                                    lapack_driver=svd_lapack_driver)
        U, S, Vt = U[:, :value], S[:value], Vt[:value]
        if transpose:
            U, Vt = Vt.T, U.T
        return np.ascontiguousarray(U), S, np.ascontiguousarray(Vt)
    sketch, normalizer = _resolve_sketch(sketch_dtype, power_iteration_normalizer, n_iter,
                                         M.dtype)
    sk = _Sketcher(M, sketch, n_threads)

    if mode == "rank":
        k = value
        size = min(k + n_oversamples, max_rank)
        W, C = _fixed_rank(sk, size, n_iter, normalizer, rng)
    else:
        W, C, k = _grow_until_energy(sk, value, n_oversamples=n_oversamples, n_iter=n_iter,
                                     normalizer=normalizer, rng=rng, block_size=block_size,
                                     max_rank=max_rank)
    U, S, Vt = _svd_of_projection(W, C, svd_lapack_driver)
    if (sk.sketch_dtype != sk.dtype and S[0] > 0
            and S[min(k, len(S)) - 1] < _FLOAT32_RESOLUTION * S[0]):
        # the requested components reach below float32's resolution: clean up in float64
        W, C = _refine(sk, W, C)
        U, S, Vt = _svd_of_projection(W, C, svd_lapack_driver)
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
    rank found (benchmarks/compare_svd.py, problem ``svd-energy``).

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
    U, S, Vt = _randomized_svd(
        M, n_components, n_oversamples=n_oversamples, n_iter=n_iter,
        power_iteration_normalizer=power_iteration_normalizer, transpose=transpose,
        random_state=random_state, svd_lapack_driver=svd_lapack_driver, energy=energy,
        sketch_dtype=sketch_dtype, block_size=block_size)
    if flip_sign:
        U, Vt = _flip_signs(U, Vt, u_based=True)
    return U, S, Vt


# --------------------------------------------------------------------------
# estimator
# --------------------------------------------------------------------------

def _column_variance_sum(X):
    """Sum of the column variances of X (dense or sparse), accumulated in float64."""
    m = X.shape[0]
    if sp.issparse(X):
        mean = np.asarray(X.sum(axis=0, dtype=np.float64)).ravel() / m
        sq = np.asarray(X.multiply(X).sum(axis=0, dtype=np.float64)).ravel() / m
        return float(np.clip(sq - mean ** 2, 0, None).sum())
    return float(np.var(X, axis=0, dtype=np.float64).sum())


class TruncatedSVD(TransformerMixin, BaseEstimator):
    """Dimensionality reduction by truncated SVD (latent semantic analysis).

    A drop-in for :class:`sklearn.decomposition.TruncatedSVD`: the data is
    not centred, so sparse input works efficiently (it is never densified).
    ``n_components`` may also be an energy fraction.

    Parameters
    ----------
    n_components : int or float, default=2
        An int is the output dimension (``< n_features``). A float in (0, 1)
        keeps the fewest components whose energy reaches that fraction (see
        ``energy``); ``n_components_`` then holds the rank found.
    algorithm : {'randomized', 'arpack'}, default='randomized'
        'randomized' is :func:`randomized_svd`; 'arpack' is
        :func:`scipy.sparse.linalg.svds` (with an energy fraction, the rank
        is found by the randomized sketch first).
    n_iter : int, default=5
        Power iterations of the randomized solver.
    n_oversamples : int, default=10
        Extra random vectors of the randomized solver.
    power_iteration_normalizer : {'auto', 'QR', 'LU', 'none'}, default='auto'
    random_state : int, RandomState, Generator or None
    tol : float, default=0.0
        ARPACK tolerance (0 means machine precision).
    energy : {'squared', 'linear'}, default='squared'
        Energy convention for a float ``n_components`` (see
        :func:`randomized_svd`).
    sketch_dtype : {'auto', 'float32', 'float64'}, default='auto'
        Precision of the randomized power iterations (see
        :func:`randomized_svd`).

    Attributes
    ----------
    components_ : ndarray of shape (n_components_, n_features)
    singular_values_ : ndarray of shape (n_components_,)
    explained_variance_ : ndarray of shape (n_components_,)
        Variance of each column of the transformed training data.
    explained_variance_ratio_ : ndarray of shape (n_components_,)
        ``explained_variance_`` over the total variance of the columns of X.
    n_components_ : int
        Number of components kept.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names.
    """

    def __init__(self, n_components=2, *, algorithm="randomized", n_iter=5, n_oversamples=10,
                 power_iteration_normalizer="auto", random_state=None, tol=0.0,
                 energy="squared", sketch_dtype="auto"):
        self.n_components = n_components
        self.algorithm = algorithm
        self.n_iter = n_iter
        self.n_oversamples = n_oversamples
        self.power_iteration_normalizer = power_iteration_normalizer
        self.random_state = random_state
        self.tol = tol
        self.energy = energy
        self.sketch_dtype = sketch_dtype

    def fit(self, X, y=None):
        """Fit the model on X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self
        """
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit the model on X and return the reduced X.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A ``dask.array`` is fitted where its row blocks live (see
            :mod:`fastfactor.svd._dask`); X_new is then a dask array too.
        y : Ignored

        Returns
        -------
        X_new : ndarray or dask array of shape (n_samples, n_components_)
        """
        if is_dask_array(X):
            return self._fit_dask(X)
        X = validate_data(self, X, reset=True, accept_sparse=True, ensure_min_features=2)
        check_option(self.algorithm, "algorithm", ("randomized", "arpack"))
        n_iter = check_int(self.n_iter, "n_iter", min_value=0)
        tol = check_float(self.tol, "tol", min_value=0)
        mode, value = _check_n_components(self.n_components, X.shape[1] - 1
                                          if self.algorithm == "arpack" else X.shape[1])
        if mode == "rank" and value > min(X.shape):
            raise ValueError(
                f"n_components={value} must be <= min(n_samples, n_features) = "
                f"{min(X.shape)} for X of shape {X.shape}."
            )
        random_state = check_random_state(self.random_state)
        common = dict(n_oversamples=self.n_oversamples, n_iter=n_iter,
                      power_iteration_normalizer=self.power_iteration_normalizer,
                      transpose="auto", random_state=random_state, energy=self.energy,
                      sketch_dtype=self.sketch_dtype)
        if self.algorithm == "randomized" or mode == "energy":
            U, S, Vt = _randomized_svd(X, self.n_components, **common)
        if self.algorithm == "arpack":
            k = value if mode == "rank" else len(S)
            if k >= min(X.shape):
                raise ValueError(
                    f"algorithm='arpack' needs n_components < min(n_samples, n_features) = "
                    f"{min(X.shape)}, got {k}" + ("" if mode == "rank" else
                                                  f" (rank found for energy {value})") + "."
                )
            U, S, Vt = self._arpack(X, k, tol, random_state)
        U, Vt = _flip_signs(U, Vt, u_based=False)
        self.components_ = Vt
        if self.algorithm == "arpack" and tol > 0:
            X_new = np.asarray(X @ Vt.T)
        else:
            X_new = U * S  # exact: V lies in the sketched row space
        self.singular_values_ = S
        self.n_components_ = len(S)
        self.explained_variance_ = np.var(X_new, axis=0, dtype=np.float64).astype(X.dtype)
        full_var = _column_variance_sum(X)
        self.explained_variance_ratio_ = (self.explained_variance_ / full_var
                                          if full_var > 0 else
                                          np.zeros_like(self.explained_variance_))
        return X_new

    def _fit_dask(self, X):
        """``fit_transform`` of a row-chunked dask array: the randomized solver, in blocks.

        Same parameters, random draws and result (to rounding) as the fit of
        the same data in memory; X_new stays in X's row blocks.
        """
        from . import _dask as _dask_svd
        from .._utils.dask import prepare

        X, _ = prepare(X)
        n_iter, n_oversamples = self._check_dask_params(X)
        self.__dict__.pop("feature_names_in_", None)
        self.n_features_in_ = X.shape[1]
        fit = _dask_svd.randomized_svd(
            X, self.n_components, n_oversamples=n_oversamples, n_iter=n_iter,
            power_iteration_normalizer=self.power_iteration_normalizer,
            random_state=check_random_state(self.random_state), energy=self.energy,
            sketch_dtype=self.sketch_dtype)
        S = fit.S
        signs = _sign_flips(fit.Vt).astype(X.dtype, copy=False)
        # U * S with the flipped signs, computed in the blocks
        X_new = fit.U.scale_columns(signs * S).materialized()
        self.components_ = fit.Vt * signs[:, None]
        self.singular_values_ = S
        self.n_components_ = len(S)
        self.explained_variance_ = _dask_svd.explained_variance(fit, X_new).astype(X.dtype)
        full_var = fit.column_variance_sum
        self.explained_variance_ratio_ = (self.explained_variance_ / full_var
                                          if full_var > 0 else
                                          np.zeros_like(self.explained_variance_))
        return fit.runner.to_dask(X_new.parts, len(S), X.dtype)

    def _check_dask_params(self, X):
        """Every check of ``fit`` that needs no pass over the data; (n_iter, n_oversamples)."""
        if not isinstance(getattr(X, "_meta", None), np.ndarray):
            raise TypeError(f"TruncatedSVD takes dask arrays with numpy chunks, got "
                            f"{type(X._meta).__name__} chunks; convert them with "
                            "X.map_blocks(lambda b: b.toarray()).")
        check_option(self.algorithm, "algorithm", ("randomized", "arpack"))
        if self.algorithm == "arpack":
            raise ValueError("algorithm='arpack' is not available for a dask array X (ARPACK "
                             "needs the whole matrix in one process); use "
                             "algorithm='randomized'.")
        n_iter = check_int(self.n_iter, "n_iter", min_value=0)
        n_oversamples = check_int(self.n_oversamples, "n_oversamples", min_value=0)
        check_float(self.tol, "tol", min_value=0)
        check_option(self.energy, "energy", ENERGY_CONVENTIONS)
        _resolve_sketch(self.sketch_dtype, self.power_iteration_normalizer, n_iter, X.dtype)
        m, n = X.shape
        if n < 2 or m < 1:
            raise ValueError(f"TruncatedSVD needs at least 1 sample and 2 features, got X of "
                             f"shape {X.shape}.")
        mode, value = _check_n_components(self.n_components, n)
        if mode == "rank" and value > min(X.shape):
            raise ValueError(
                f"n_components={value} must be <= min(n_samples, n_features) = "
                f"{min(X.shape)} for X of shape {X.shape}."
            )
        return n_iter, n_oversamples

    @staticmethod
    def _arpack(X, k, tol, random_state):
        from scipy.sparse.linalg import svds

        v0 = random_state.uniform(-1, 1, size=min(X.shape)).astype(X.dtype)
        U, S, Vt = svds(X, k=k, tol=tol, v0=v0)
        order = np.argsort(S)[::-1]
        return U[:, order], S[order], Vt[order]

    def transform(self, X):
        """Project X on the components.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array} of shape (n_samples, n_features)
            A dask array is projected block by block, lazily.

        Returns
        -------
        X_new : ndarray or dask array of shape (n_samples, n_components_)
        """
        check_is_fitted(self, "components_")
        if is_dask_array(X):
            return self._transform_dask(X)
        X = validate_data(self, X, reset=False, accept_sparse=True)
        return NMFData(X, None).dot(self.components_.T.astype(X.dtype))

    def _transform_dask(self, X):
        from .._utils.dask import prepare

        X, _ = prepare(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input.")
        V = np.ascontiguousarray(self.components_.T, dtype=X.dtype)
        return X.map_blocks(_project_block, V, dtype=X.dtype,
                            chunks=(X.chunks[0], (V.shape[1],)))

    def inverse_transform(self, X):
        """Map reduced data back to the original space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components_)

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self, "components_")
        X = check_array(X, name="X", whom=type(self).__name__)
        if X.shape[1] != self.components_.shape[0]:
            raise ValueError(
                f"X has {X.shape[1]} columns, but {type(self).__name__} has "
                f"{self.components_.shape[0]} components."
            )
        return X @ self.components_

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _update_tags(self, tags):
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]


def _project_block(X_i, V):
    # one row block of a dask X times the components (the block stays where it is)
    return np.asarray(X_i) @ V
