"""Randomized truncated SVD of a row-chunked ``dask.array``.

The steps are those of :func:`fastfactor.svd._randomized_svd`, in the same
order, with the same random draws (Omega is drawn on the client from the same
stream, block by block) and the same normalizations, so the result equals
the single-machine fit to rounding. What differs is where each piece lives:

* an m-row piece (the sketch ``X W``, the projection ``C = X W``, U) is a
  :class:`_Tall`: one block per row block of X, on the worker holding that
  block, never gathered;
* an n-row piece (the row-space basis W, products ``X^T Y``) and the k x k
  Gram matrices live on the client: they are tree sums of one small term per
  block (``X_i^T Y_i``, ``Y_i^T Y_i``), so only k x n and k x k pieces travel.

For a wide X (fewer rows than columns) the single-machine code works on
``M = X^T``; the two sides then swap roles, and the same code runs with
``M.dot``/``M.tdot`` mapped to the other two block products.

Orthonormalizing a tall piece: a Cholesky QR of the tree-summed Gram matrix
``Y^T Y`` (one round trip, k x k data), repeated twice (CholeskyQR2) where
the local code wants an orthonormal basis. The Gram matrix squares the
condition number, so it is only trusted when the Cholesky factor's diagonal
says ``cond(Y) < 1e6`` (then CholeskyQR2 is orthonormal to working
precision); otherwise the basis comes from a TSQR (Householder QR of each
block, then of the stacked k x k triangles on the client), which is stable
whatever the conditioning. That is the local code's rule too (Cholesky QR,
Householder fallback), so both fits take the same branch.
"""
import numpy as np
import scipy.linalg

from . import _svd as local
from .._utils.dask import BlockRunner, block_task

# --------------------------------------------------------------------------
# block tasks (run on the workers)
# --------------------------------------------------------------------------


@block_task
def _block_stats(X_i):
    """Finite flag, ||X_i||^2, and (count, mean, M2) of each column, in float64."""
    X64 = np.asarray(X_i, dtype=np.float64)
    r = X64.shape[0]
    mean = X64.mean(axis=0) if r else np.zeros(X64.shape[1])
    dev = X64 - mean
    return (np.array(float(np.isfinite(X64).all())), np.array(np.vdot(X64, X64)),
            _ColumnMoments(r, mean, np.einsum("ij,ij->j", dev, dev)))


class _ColumnMoments:
    """Count, mean and sum of squared deviations per column; ``+`` merges two (Chan et al.).

    Merging in a fixed order gives the variance without the cancellation of
    ``E[x^2] - E[x]^2`` and without a second pass.
    """

    def __init__(self, count, mean, m2):
        self.count, self.mean, self.m2 = count, mean, m2

    def __add__(self, other):
        n = self.count + other.count
        if n == 0:
            return self
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        m2 = self.m2 + other.m2 + delta ** 2 * (self.count * other.count / n)
        return _ColumnMoments(n, mean, m2)

    def variance(self):
        return self.m2 / max(self.count, 1)


@block_task
def _block_astype(X_i, dtype):
    return np.ascontiguousarray(X_i, dtype=dtype)


@block_task
def _view(Y_i, post, post_dtype, dtype):
    """A tall piece's block: the stored block (or a task's ``(block, extra)``) times the
    pending right factor ``post`` (a product in ``post_dtype``), in the piece's dtype."""
    Y = Y_i[0] if isinstance(Y_i, tuple) else Y_i
    if post is not None:
        Y = Y.astype(post_dtype, copy=False) @ post
    return Y.astype(dtype, copy=False)


def _gram_f64(Y):
    Y64 = Y.astype(np.float64, copy=False)
    return Y64.T @ Y64


@block_task
def _block_dot_gram(X_i, B):
    # X_i @ B, and its Gram matrix in the same task: a normalization usually follows
    Y = X_i @ B
    return Y, (_gram_f64(Y),)


@block_task
def _block_tdot(X_i, Y_i, *spec):
    return (X_i.T @ _view(Y_i, *spec),)


@block_task
def _block_gram(Y_i, *spec):
    return (_gram_f64(_view(Y_i, *spec)),)


@block_task
def _block_crossprod(A_i, a_spec, B_i, b_spec):
    return (_view(A_i, *a_spec).T @ _view(B_i, *b_spec),)


@block_task
def _block_materialize(Y_i, *spec):
    return _view(Y_i, *spec)


@block_task
def _block_minus_times(W_i, w_spec, Q_i, q_spec, B):
    W = _view(W_i, *w_spec)
    return W - _view(Q_i, *q_spec) @ B.astype(W.dtype, copy=False)


@block_task
def _block_hstack(specs, *parts):
    return np.hstack([_view(p, *spec) for p, spec in zip(parts, specs)])


@block_task
def _block_qr(Y_i, *spec):
    Y = _view(Y_i, *spec)
    r, l = Y.shape
    if r == 0:
        return np.zeros((0, 0), Y.dtype), np.zeros((0, l), Y.dtype)
    return scipy.linalg.qr(Y, mode="economic", check_finite=False)


@block_task
def _block_empty(X_i, width, dtype):
    return np.empty((X_i.shape[0], width), dtype=dtype)


# --------------------------------------------------------------------------
# a tall matrix held in row blocks
# --------------------------------------------------------------------------

class _Tall:
    """An (m x width) matrix held in row blocks lined up with X's, on the workers.

    It is ``stored @ post`` in ``dtype``: right-multiplications by small
    matrices (a triangular inverse, a column selection or scaling) are only
    recorded here and done by the next task that reads the blocks, so that
    a normalization followed by a product with X is one task per block, not
    two. A task may also have stored its block with its Gram matrix, as
    ``(block, (gram,))`` (``plain=False``); ``gram_ready`` says that Gram
    matrix is the matrix's own (nothing pending since).
    """

    def __init__(self, runner, parts, width, dtype, post=None, gram_ready=False, plain=True,
                 stored_dtype=None, post_dtype=None):
        self.runner = runner
        self.parts = parts
        self.shape = (sum(runner.rows), int(width))
        self.dtype = np.dtype(dtype)
        self.post = post
        self.post_dtype = self.dtype if post_dtype is None else np.dtype(post_dtype)
        self.gram_ready = gram_ready and post is None
        self.plain = plain
        self.stored_dtype = self.dtype if stored_dtype is None else np.dtype(stored_dtype)

    @property
    def spec(self):
        """What a task needs besides a block to read it: (post, post_dtype, dtype)."""
        return self.post, self.post_dtype, self.dtype

    def _reduce(self, fn, *extra_columns, shared=()):
        run = self.runner
        parts = run.map(fn, self.parts, *extra_columns, shared=shared)
        return run.gather([run.tree_sum(parts)])[0][0]

    def gram(self):
        """``Y^T Y`` in float64 (summed over the blocks: one round trip)."""
        if self.gram_ready:
            run = self.runner
            return run.gather([run.tree_sum(self.parts, pick=1)])[0][0]
        return self._reduce(_block_gram, shared=self.spec)

    def crossprod(self, other):
        """``self^T @ other`` (one round trip)."""
        run = self.runner
        parts = [run.submit(_block_crossprod, a, self.spec, b, other.spec)
                 for a, b in zip(self.parts, other.parts)]
        return run.gather([run.tree_sum(parts)])[0][0]

    def times(self, B):
        """``self @ B`` for a small B (recorded, done by the next task reading the blocks).

        The product is done in the dtype it would have in memory; two
        recorded factors are merged only when that dtype is the same for both
        (and no cast came between), else the first is done in a task first.
        """
        B = np.asarray(B)
        dtype = np.result_type(self.dtype, B.dtype)
        if self.post is not None and not (self.post_dtype == dtype == self.dtype):
            return self.materialized().times(B)
        post = B if self.post is None else self.post @ B.astype(dtype, copy=False)
        return _Tall(self.runner, self.parts, B.shape[1], dtype, post.astype(dtype, copy=False),
                     plain=self.plain, stored_dtype=self.stored_dtype, post_dtype=dtype)

    def minus_times(self, Q, B):
        """``self - Q @ B`` block by block."""
        run = self.runner
        B = np.asarray(B, dtype=self.dtype)
        parts = [run.submit(_block_minus_times, w, self.spec, q, Q.spec, B)
                 for w, q in zip(self.parts, Q.parts)]
        return _Tall(run, parts, self.shape[1], self.dtype)

    def astype(self, dtype):
        return _Tall(self.runner, self.parts, self.shape[1], dtype, self.post,
                     self.gram_ready and np.dtype(dtype) == self.dtype, self.plain,
                     self.stored_dtype, self.post_dtype)

    def columns(self, start, stop):
        stop = min(stop, self.shape[1])
        if (start, stop) == (0, self.shape[1]):
            return self
        return self.times(np.eye(self.shape[1], dtype=self.dtype)[:, start:stop])

    def scale_columns(self, scale):
        return self.times(np.diag(np.asarray(scale, dtype=self.dtype)))

    def materialized(self):
        """The same matrix as plain blocks, nothing pending (for a dask array of it)."""
        if self.post is None and self.plain and self.dtype == self.stored_dtype:
            return self
        run = self.runner
        return _Tall(run, run.map(_block_materialize, self.parts, shared=self.spec),
                     self.shape[1], self.dtype)

    @staticmethod
    def hstack(tall_parts):
        first = tall_parts[0]
        run = first.runner
        specs = [t.spec for t in tall_parts]
        parts = [run.submit(_block_hstack, specs, *row)
                 for row in zip(*[t.parts for t in tall_parts])]
        return _Tall(run, parts, sum(t.shape[1] for t in tall_parts),
                     np.result_type(*[t.dtype for t in tall_parts]))

    def tsqr(self):
        """Householder QR by a one-level TSQR: the Q blocks stay put, R comes back."""
        run = self.runner
        parts = run.map(_block_qr, self.parts, shared=self.spec)
        Rs = run.gather(run.item(parts, 1))
        Q2, R = scipy.linalg.qr(np.vstack(Rs), mode="economic", check_finite=False)
        bounds = np.cumsum([0] + [R_i.shape[0] for R_i in Rs])
        Q = [run.submit(_block_times, Q1, Q2[a:b])
             for Q1, a, b in zip(run.item(parts, 0), bounds[:-1], bounds[1:])]
        return _Tall(run, Q, Q2.shape[1], self.dtype), R


@block_task
def _block_times(Y_i, B):
    return Y_i @ B


# --------------------------------------------------------------------------
# the local code's numerical pieces, for either side (ndarray or _Tall)
# --------------------------------------------------------------------------

def _is_tall(A):
    return isinstance(A, _Tall)


def _gram64(A):
    return A.gram() if _is_tall(A) else _gram_f64(A)


def _crossprod(A, B):
    return A.crossprod(B) if _is_tall(A) else A.T @ B


def _astype(A, dtype):
    return A.astype(dtype) if _is_tall(A) else A.astype(dtype, copy=False)


def _hstack(parts):
    return _Tall.hstack(parts) if _is_tall(parts[0]) else np.hstack(parts)


def _cholesky_qr(Y, rounds):
    """:func:`fastfactor.svd._cholesky_qr` on a tall piece (one round trip per round)."""
    if not _is_tall(Y):
        return local._cholesky_qr(Y, rounds)
    for _ in range(rounds):
        try:
            R = scipy.linalg.cholesky(Y.gram(), lower=False, check_finite=False)
        except np.linalg.LinAlgError:
            return None
        d = np.abs(np.diag(R))
        if not np.all(np.isfinite(d)) or d.min() <= 1e-6 * d.max():
            return None
        R_inv = scipy.linalg.solve_triangular(R, np.eye(R.shape[0]), lower=False,
                                              check_finite=False)
        Y = Y.times(R_inv.astype(Y.dtype, copy=False))
    return Y


def _householder(Y):
    return Y.tsqr()[0] if _is_tall(Y) else local._householder(Y)


def _orth(Y):
    if not _is_tall(Y):
        return local._orth(Y)
    if Y.shape[0] >= 4 * Y.shape[1]:
        Q = _cholesky_qr(Y, rounds=2)
        if Q is not None:
            return Q
    return _householder(Y)


def _normalize(Y, normalizer):
    """:func:`fastfactor.svd._normalize`; on a tall piece 'LU' is done as a QR.

    A normalization only has to keep the block well conditioned: any basis
    of the same span leads to the same next iterate, and an LU with partial
    pivoting across blocks would need a tournament of pivots.
    """
    if not _is_tall(Y):
        return local._normalize(Y, normalizer)
    if normalizer == "QR":
        return _orth(Y)
    if normalizer in ("LU", "cholesky"):
        Q = _cholesky_qr(Y, rounds=1) if Y.shape[0] >= 4 * Y.shape[1] else None
        return Q if Q is not None else _householder(Y)
    norms = np.sqrt(np.diag(Y.gram()))
    norms[norms == 0] = 1
    return Y.scale_columns(1 / norms)


def _project_out(W, Q):
    """``W - Q (Q^T W)``, twice (a new piece; ndarrays are changed in place as locally)."""
    if not _is_tall(W):
        return local._project_out(W, Q)
    if Q.shape[1]:
        for _ in range(2):
            W = W.minus_times(Q, Q.crossprod(W))
    return W


def _extend_basis(Q, Y):
    """:func:`fastfactor.svd._extend_basis` on either side."""
    if not _is_tall(Q):
        return local._extend_basis(Q, Y)
    n, l = Q.shape
    Y = Y.columns(0, n - l)
    b = Y.shape[1]
    if b == 0:
        return Y
    scale = np.sqrt(np.max(np.diag(Y.gram())))
    P = _project_out(Y, Q)
    lam, V = np.linalg.eigh(P.gram())
    keep = lam > (1e-3 * scale) ** 2
    if np.any(keep) and n >= 4 * b:
        E = P.times((V[:, keep] / np.sqrt(lam[keep])).astype(P.dtype, copy=False))
        E = _cholesky_qr(_project_out(E, Q), rounds=1)
        if E is not None:
            return E
    return _householder(_Tall.hstack([Q, Y])).columns(l, l + b)


# --------------------------------------------------------------------------
# products with M (= X, or X^T for a wide X)
# --------------------------------------------------------------------------

class _Products:
    """``M @ B`` and ``M^T @ B`` with X's row blocks in one dtype."""

    def __init__(self, runner, blocks, dtype, transpose):
        self.runner = runner
        self.blocks = blocks
        self.dtype = np.dtype(dtype)
        self.transpose = transpose

    def _x_dot(self, B):  # X @ B: tall, stays in the blocks (with its Gram matrix)
        B = np.ascontiguousarray(B, dtype=self.dtype)
        shared = self.runner.share(B)
        return _Tall(self.runner, self.runner.map(_block_dot_gram, self.blocks,
                                                  shared=(shared,)),
                     B.shape[1], self.dtype, gram_ready=True, plain=False)

    def _x_tdot(self, Y):  # X^T @ Y: small, summed over the blocks
        run = self.runner
        parts = run.map(_block_tdot, self.blocks, Y.parts, shared=Y.astype(self.dtype).spec)
        return run.gather([run.tree_sum(parts)])[0][0]

    def dot(self, B):
        return self._x_tdot(B) if self.transpose else self._x_dot(B)

    def tdot(self, B):
        return self._x_dot(B) if self.transpose else self._x_tdot(B)


class _Sketcher:
    """The distributed twin of :class:`fastfactor.svd._Sketcher`."""

    def __init__(self, runner, shape, dtype, sketch_dtype, transpose, sq_norm):
        self.runner = runner
        self.shape = shape[::-1] if transpose else shape  # M's shape
        self.dtype = np.dtype(dtype)
        self.sketch_dtype = np.dtype(sketch_dtype)
        self.transpose = transpose
        self.sq_norm = sq_norm
        self.data = _Products(runner, runner.blocks, dtype, transpose)
        if self.sketch_dtype == self.dtype:
            self.sketch = self.data
        else:  # one copy of X in the sketch dtype, kept on the workers for the fit
            blocks = runner.map(_block_astype, runner.blocks, shared=(self.sketch_dtype,))
            self.sketch = _Products(runner, blocks, self.sketch_dtype, transpose)

    def gaussian(self, rng, width):
        """``rng.standard_normal((M.shape[0], width))`` in the sketch dtype, as locally.

        On the row side it is drawn block after block (the same stream as one
        draw) and each block is sent to its X block: the one m-row piece
        that travels, once, ``width / n_features`` of X's size.
        """
        if self.transpose:
            return rng.standard_normal(size=(self.shape[0], width)).astype(
                self.sketch_dtype, copy=False)
        run = self.runner
        parts = [run.submit(_with_block, X_i, rng.standard_normal(size=(r, width)).astype(
            self.sketch_dtype, copy=False)) for X_i, r in zip(run.blocks, run.rows)]
        return _Tall(run, parts, width, self.sketch_dtype)

    def empty(self, side, width):
        """A (rows x width) piece on M's row side (0) or column side (1)."""
        rows = self.shape[side]
        if (side == 0) != self.transpose:  # X's rows: a tall piece
            run = self.runner
            return _Tall(run, run.map(_block_empty, run.blocks, shared=(width, self.dtype)),
                         width, self.dtype)
        return np.empty((rows, width), dtype=self.dtype)


@block_task
def _with_block(X_i, A_i):
    return A_i


# --------------------------------------------------------------------------
# the algorithm: svd._randomized_svd's steps
# --------------------------------------------------------------------------

def _power_block(sk, Z, n_iter, normalizer, Q=None):
    Qs = None if Q is None else _astype(Q, sk.sketch_dtype)
    W = sk.sketch.tdot(Z)
    previous = None
    for _ in range(n_iter):
        if Qs is not None:
            W = _project_out(W, Qs)
        W = previous = _normalize(W, normalizer)
        Y = _normalize(sk.sketch.dot(W), normalizer)
        W = sk.sketch.tdot(Y)
    return W, previous


def _finish(sk, W, previous=None):
    W = _orth(_astype(W, sk.dtype))
    if previous is not None:
        W = _hstack([W, _extend_basis(W, _astype(previous, sk.dtype))])
    return W, sk.data.dot(W)


def _fixed_rank(sk, size, n_iter, normalizer, rng):
    Z = sk.gaussian(rng, size)
    W, previous = _power_block(sk, Z, n_iter, normalizer)
    return _finish(sk, W, previous)


def _refine(sk, W, C):
    Y = _orth(C)
    W = _orth(sk.data.tdot(Y))
    return W, sk.data.dot(W)


def _svd_of_projection(W, C, driver):
    """:func:`fastfactor.svd._svd_of_projection`: U (M's row side), S, Vt (column side)."""
    if not _is_tall(C):  # W is the tall piece: Vct @ W.T is kept transposed, in blocks
        U, S, Vct = local._svd_of_projection(np.eye(C.shape[1], dtype=C.dtype), C, driver)
        return U, S, _Transposed(W.times(Vct.T))
    if C.shape[0] >= 4 * C.shape[1]:
        Q = _cholesky_qr(C, rounds=2)
        if Q is not None:
            Ur, S, Vct = scipy.linalg.svd(Q.crossprod(C), check_finite=False,
                                          lapack_driver=driver)
            return Q.times(Ur), S, Vct @ W.T
    Q, R = C.tsqr()
    Ur, S, Vct = scipy.linalg.svd(R, full_matrices=False, check_finite=False,
                                  lapack_driver=driver)
    return Q.times(Ur), S, Vct @ W.T


class _Transposed:
    """``T.T`` for a tall piece T (the right factor of a wide X before transposing back)."""

    def __init__(self, tall):
        self.T = tall


def _grow_until_energy(sk, fraction, *, n_oversamples, n_iter, normalizer, rng, block_size,
                       max_rank):
    """:func:`fastfactor.svd._grow_until_energy`, block for block."""
    total = sk.sq_norm
    W = sk.empty(1, 0)
    C = sk.empty(0, 0)
    G = np.empty((0, 0), dtype=np.float64)
    b = block_size if block_size != "auto" else local._FIRST_BLOCK + n_oversamples
    while True:
        l = W.shape[1]
        b = min(b, max_rank - l)
        Z = sk.gaussian(rng, b)
        Wb, _ = _power_block(sk, Z, n_iter, normalizer, Q=W)
        Wb = _extend_basis(W, _astype(Wb, sk.dtype))
        Cb = sk.data.dot(Wb)
        cross = np.asarray(_crossprod(C, Cb), dtype=np.float64)
        G = np.block([[G, cross], [cross.T, _gram64(Cb)]])
        W = _hstack([W, Wb])
        C = _hstack([C, Cb])
        l = W.shape[1]
        energies = np.clip(scipy.linalg.eigvalsh(G, check_finite=False)[::-1], 0, None)
        k = local._energy_target(energies, total, fraction)
        if l >= max_rank:
            if k is None:
                k = local._energy_target(energies, total * (1 - 1e-5), fraction) or l
            return W, C, k
        if k is not None and k + n_oversamples <= l:
            return W, C, k
        if block_size == "auto":
            b = local._next_block(energies, fraction * total, k, l, n_oversamples)


# --------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------

class DaskSVDResult:
    """What a distributed fit returns: ``U`` stays in blocks, the rest is small."""

    def __init__(self, runner, U, S, Vt, sq_norm, column_variance_sum):
        self.runner, self.U, self.S, self.Vt = runner, U, S, Vt
        self.sq_norm = sq_norm
        self.column_variance_sum = column_variance_sum


def randomized_svd(X, n_components, *, n_oversamples, n_iter, power_iteration_normalizer,
                   random_state, energy, sketch_dtype, svd_lapack_driver="gesdd",
                   block_size="auto"):
    """Randomized SVD of a prepared (whole-row chunks, float) dask array X.

    The steps of :func:`fastfactor.svd._randomized_svd` with
    ``transpose='auto'``; U comes back as a :class:`_Tall` (in blocks), S and
    Vt as ndarrays, unflipped. Raises ValueError for input the fit cannot
    use (non-finite values, ``energy='linear'`` on a wide X).
    """
    runner = BlockRunner(X)
    m, n = X.shape
    max_rank = min(m, n)
    mode, value = local._check_n_components(n_components, max_rank)
    rng = local.check_random_state(random_state)
    finite, sq_norm, moments = runner.gather([runner.tree_sum(
        runner.map(_block_stats, runner.blocks))])[0]
    if finite < len(runner.blocks):
        raise ValueError("Input X contains NaN or infinity.")
    sq_norm = float(sq_norm)
    transpose = m < n
    if mode == "energy" and energy == "linear":
        mode, value = "rank", local.energy_rank(
            _all_singular_values(runner, X.shape), value, energy="linear")
    if n_iter == "auto":
        n_iter = (5 if value < 0.1 * max_rank else 3) if mode == "rank" else 4
    sketch, normalizer = local._resolve_sketch(sketch_dtype, power_iteration_normalizer,
                                               n_iter, X.dtype)
    sk = _Sketcher(runner, (m, n), X.dtype, sketch, transpose, sq_norm)
    if mode == "rank":
        k = value
        W, C = _fixed_rank(sk, min(k + n_oversamples, max_rank), n_iter, normalizer, rng)
    else:
        W, C, k = _grow_until_energy(sk, value, n_oversamples=n_oversamples, n_iter=n_iter,
                                     normalizer=normalizer, rng=rng, block_size=block_size,
                                     max_rank=max_rank)
    U, S, Vt = _svd_of_projection(W, C, svd_lapack_driver)
    if (sk.sketch_dtype != sk.dtype and S[0] > 0
            and S[min(k, len(S)) - 1] < local._FLOAT32_RESOLUTION * S[0]):
        W, C = _refine(sk, W, C)
        U, S, Vt = _svd_of_projection(W, C, svd_lapack_driver)
    if transpose:  # back from M = X^T: U = Vt.T (in blocks), Vt = U.T
        U, Vt = Vt.T, U.T
    return DaskSVDResult(runner, U.columns(0, k), S[:k], np.ascontiguousarray(Vt[:k]),
                         sq_norm, float(moments.variance().sum()))


def _all_singular_values(runner, shape):
    """Every singular value of a tall X, from ``X^T X`` summed over the blocks."""
    m, n = shape
    if m < n:
        raise ValueError(
            f"energy='linear' on a dask array needs X with at least as many rows as columns "
            f"(it sums X_i^T X_i over the row blocks); X has shape {shape}. Use "
            "energy='squared' or an int n_components.")
    if n > local.MAX_GRAM_SIDE:
        raise ValueError(
            f"energy='linear' needs every singular value, from a {n}x{n} Gram matrix, larger "
            f"than fastfactor.svd.MAX_GRAM_SIDE={local.MAX_GRAM_SIDE}; use energy='squared' "
            "or an int n_components.")
    G = _Tall(runner, runner.blocks, n, np.float64).gram()
    lam = scipy.linalg.eigvalsh(G, check_finite=False, overwrite_a=True)[::-1]
    return np.sqrt(np.clip(lam, 0, None))


def explained_variance(result, U):
    """Per-column variance of the tall U (count, mean, M2 merged over the blocks)."""
    run = result.runner
    moments = run.gather([run.tree_sum(run.map(_block_moments, U.parts,
                                               shared=U.spec))])[0][0]
    return moments.variance()


@block_task
def _block_moments(Y_i, *spec):
    return (_block_stats(_view(Y_i, *spec))[2],)
