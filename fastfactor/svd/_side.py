"""The arithmetic of the sketch's tall pieces, written once for every storage.

The randomized SVD of M handles two kinds of tall, thin matrices ("pieces"):
those with M's rows (the sketch ``M W``, the projection ``C``, U) and those
with M's columns (the row-space basis W, the products ``M^T Y``). A
:class:`Side` holds the pieces of one kind and knows a few primitive
operations on them (products by small matrices, Gram matrices, a
Householder QR, ...); the orthonormalizations the algorithm needs are
written here once, on top of those primitives:

* :class:`DenseSide`: pieces are ndarrays (every in-memory fit, and the
  client-side pieces of a Dask fit);
* ``fastfactor.svd._dask.BlockSide``: pieces live in row blocks on Dask
  workers; its Gram matrices are tree sums and its Householder QR a TSQR.

Orthonormalizing is a Cholesky QR of the float64 Gram matrix (BLAS-3 only,
one round trip for row blocks), with a Householder fallback when the Gram
matrix says the piece is too ill-conditioned for it.
"""
import numpy as np
import scipy.linalg


class Side:
    """Pieces with one of M's dimensions as their number of rows.

    This class builds the orthonormalizations on primitives that its
    subclasses provide (B, R, Vct are small client-side ndarrays):

    ``gram(Y)``
        ``Y^T Y`` in float64.
    ``crossprod(A, B)``, ``times(Y, B)``, ``subtract_product(W, Q, B)``
        ``A^T B`` (small), ``Y @ B``, ``W - Q @ B`` (W may be overwritten).
    ``householder(Y)``, ``lu(Y)``
        The Q factor of Y's economic Householder QR; the 'LU' normalization.
    ``thin_svd(C, driver)``
        ``U, S, Vt`` of C (U a piece); ``right_factor(W, Vct)`` is then
        ``Vct @ W^T`` for an orthonormal basis W of this side.
    ``column_norms(Y)``, ``divide_columns(Y, norms)``
        Column norms (a writable ndarray); Y scaled by their inverses (Y may
        be overwritten).
    ``copy(Y)``, ``columns(Y, start, stop)``, ``hstack(pieces)``, ``astype(Y, dtype)``
        A copy in-place work may overwrite; a column range; pieces side by
        side; Y in ``dtype`` (Y itself when it already is).
    ``empty(width, dtype)``
        A new piece (with ``width=0``, the start of a growing basis).
    """

    def cholesky_qr(self, Y, rounds):
        """Q factor of a tall Y by Cholesky QR (float64 Gram), or None if Y is too ill-conditioned.

        Every step is a BLAS-3 product (the Gram matrix, then Y times the
        inverted triangle), much faster than Householder QR on tall-skinny
        blocks. ``rounds=2`` (CholeskyQR2) is orthonormal to working
        precision when ``cond(Y) < 1e6``; ``rounds=1`` is enough to keep
        power iterations well conditioned.
        """
        for _ in range(rounds):
            try:
                R = scipy.linalg.cholesky(self.gram(Y), lower=False, check_finite=False)
            except np.linalg.LinAlgError:
                return None
            d = np.abs(np.diag(R))
            if not np.all(np.isfinite(d)) or d.min() <= 1e-6 * d.max():
                return None
            # Y R^{-1}: invert the small triangle, then one GEMM (faster than a
            # triangular solve with a tall right-hand side)
            R_inv = scipy.linalg.solve_triangular(R, np.eye(R.shape[0]), lower=False,
                                                  check_finite=False)
            Y = self.times(Y, R_inv.astype(Y.dtype, copy=False))
        return Y

    def orthonormalize(self, Y):
        """Orthonormal basis of the columns of Y (same dtype).

        CholeskyQR2 when Y is tall and well conditioned, else Householder QR
        (which also gives an orthonormal basis for a rank-deficient Y).
        """
        if Y.shape[0] >= 4 * Y.shape[1]:
            Q = self.cholesky_qr(Y, rounds=2)
            if Q is not None:
                return Q
        return self.householder(Y)

    def normalize(self, Y, normalizer):
        """Keep a power-iteration block well conditioned (its span is unchanged)."""
        if normalizer == "QR":
            return self.orthonormalize(Y)
        if normalizer == "LU":
            return self.lu(Y)
        if normalizer == "cholesky":
            Q = self.cholesky_qr(Y, rounds=1) if Y.shape[0] >= 4 * Y.shape[1] else None
            return Q if Q is not None else self.householder(Y)
        # 'none': only rescale the columns, so that repeated products cannot
        # overflow (float32 reaches its limit after a few products otherwise)
        norms = self.column_norms(Y)
        norms[norms == 0] = 1
        return self.divide_columns(Y, norms)

    def project_out(self, W, Q):
        """``W - Q (Q^T W)``, twice (classical Gram-Schmidt with re-orthogonalization).

        May work in place: the caller's W is not to be used afterwards.
        """
        if Q.shape[1]:
            for _ in range(2):
                W = self.subtract_product(W, Q, self.crossprod(Q, W))
        return W

    def extend_basis(self, Q, Y):
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
        Y = self.columns(Y, 0, n - l)
        b = Y.shape[1]
        if b == 0:
            return Y
        scale = np.max(self.column_norms(Y))
        P = self.project_out(self.copy(Y), Q)
        lam, V = np.linalg.eigh(self.gram(P))
        keep = lam > (1e-3 * scale) ** 2
        if np.any(keep) and n >= 4 * b:
            E = self.times(P, (V[:, keep] / np.sqrt(lam[keep])).astype(P.dtype, copy=False))
            E = self.cholesky_qr(self.project_out(E, Q), rounds=1)
            if E is not None:
                return E
        return self.columns(self.householder(self.hstack([Q, Y])), l, l + b)


class DenseSide(Side):
    """Pieces held as ndarrays of ``n_rows`` rows."""

    def __init__(self, n_rows):
        self.n_rows = n_rows

    def gram(self, Y):
        Y64 = Y.astype(np.float64, copy=False)
        return Y64.T @ Y64

    def crossprod(self, A, B):
        return A.T @ B

    def times(self, Y, B):
        return Y @ B

    def subtract_product(self, W, Q, B):
        W -= Q @ B
        return W

    def householder(self, Y):
        return scipy.linalg.qr(Y, mode="economic", check_finite=False)[0]

    def lu(self, Y):
        return scipy.linalg.lu(Y, permute_l=True, check_finite=False, overwrite_a=True)[0]

    def thin_svd(self, C, driver):
        return scipy.linalg.svd(C, full_matrices=False, check_finite=False,
                                lapack_driver=driver)

    def right_factor(self, W, Vct):
        return Vct @ W.T

    def column_norms(self, Y):
        return np.sqrt(np.einsum("ij,ij->j", Y, Y))

    def divide_columns(self, Y, norms):
        Y /= norms
        return Y

    def copy(self, Y):
        return Y.copy()

    def columns(self, Y, start, stop):
        return Y[:, start:stop]

    def hstack(self, pieces):
        return np.hstack(pieces)

    def astype(self, Y, dtype):
        return Y.astype(dtype, copy=False)

    def empty(self, width, dtype):
        return np.empty((self.n_rows, width), dtype=dtype)
