"""The randomized SVD of a row-chunked ``dask.array``: the Dask operand.

:func:`dask_randomized_svd` runs the same algorithm as the in-memory
:func:`fastfactor.randomized_svd` (:func:`fastfactor.svd._sketch.sketch_svd`),
with the same random draws (Omega is drawn on the client from the same
stream, block by block) and the same normalizations, so the result equals
the single-machine fit to rounding. What differs is where each piece lives:

* an m-row piece (the sketch ``X W``, the projection ``C = X W``, U) is a
  :class:`_Tall`: one block per row block of X, on the worker holding that
  block, never gathered; :class:`BlockSide` is their arithmetic;
* an n-row piece (the row-space basis W, products ``X^T Y``) and the k x k
  Gram matrices live on the client: they are tree sums of one small term per
  block (``X_i^T Y_i``, ``Y_i^T Y_i``), so only k x n and k x k pieces travel.

For a wide X (fewer rows than columns) the algorithm works on ``M = X^T``;
the two sides then swap roles (:class:`DaskOperand`).

Orthonormalizing a tall piece: a Cholesky QR of the tree-summed Gram matrix
``Y^T Y`` (one round trip, k x k data), repeated twice (CholeskyQR2) where
an orthonormal basis is needed. The Gram matrix squares the condition
number, so it is only trusted when the Cholesky factor's diagonal says
``cond(Y) < 1e6`` (then CholeskyQR2 is orthonormal to working precision);
otherwise the basis comes from a TSQR (Householder QR of each block, then of
the stacked k x k triangles on the client), which is stable whatever the
conditioning. That is the in-memory rule too (Cholesky QR, Householder
fallback, :class:`fastfactor.svd._side.Side`), so both fits take the same
branch.
"""
import numpy as np
import scipy.linalg

from .._utils.dask import BlockRunner, block_task
from .._utils.validation import check_random_state
from ._energy import check_gram_side, energy_rank, singular_values_from_gram
from ._params import check_n_components, default_n_iter, resolve_sketch
from ._side import DenseSide, Side
from ._sketch import sketch_svd

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
def _block_times(Y_i, B):
    return Y_i @ B


@block_task
def _block_empty(X_i, width, dtype):
    return np.empty((X_i.shape[0], width), dtype=dtype)


@block_task
def _with_block(X_i, A_i):
    return A_i


@block_task
def _block_moments(Y_i, *spec):
    return (_block_stats(_view(Y_i, *spec))[2],)


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

    def gram(self):
        """``Y^T Y`` in float64 (summed over the blocks: one round trip)."""
        run = self.runner
        if self.gram_ready:  # summed on the workers: the parts also hold the blocks
            return run.gather([run.tree_sum(self.parts, pick=1)])[0][0]
        return run.gather_sum(run.map(_block_gram, self.parts, shared=self.spec))[0]

    def crossprod(self, other):
        """``self^T @ other`` (one round trip)."""
        run = self.runner
        parts = [run.submit(_block_crossprod, a, self.spec, b, other.spec)
                 for a, b in zip(self.parts, other.parts)]
        return run.gather_sum(parts)[0]

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


class _Transposed:
    """``T.T`` for a tall piece T (the right factor of a wide X before transposing back)."""

    def __init__(self, tall):
        self.T = tall


class BlockSide(Side):
    """The pieces with X's rows, as :class:`_Tall` row blocks on the workers."""

    def __init__(self, runner):
        self.runner = runner

    def gram(self, Y):
        return Y.gram()

    def crossprod(self, A, B):
        # a piece's own Gram matrix may already be summed with the product that made it
        return A.gram() if A is B else A.crossprod(B)

    def times(self, Y, B):
        return Y.times(B)

    def subtract_product(self, W, Q, B):
        return W.minus_times(Q, B)

    def householder(self, Y):
        return Y.tsqr()[0]

    def lu(self, Y):
        """'LU' is done as 'cholesky' on row blocks.

        A normalization only has to keep the block well conditioned: any basis
        of the same span leads to the same next iterate, and an LU with partial
        pivoting across blocks would need a tournament of pivots.
        """
        return self.normalize(Y, "cholesky")

    def thin_svd(self, C, driver):
        Q, R = C.tsqr()
        Ur, S, Vct = scipy.linalg.svd(R, full_matrices=False, check_finite=False,
                                      lapack_driver=driver)
        return Q.times(Ur), S, Vct

    def right_factor(self, W, Vct):
        return _Transposed(W.times(Vct.T))

    def column_norms(self, Y):
        return np.sqrt(np.diag(Y.gram()))

    def divide_columns(self, Y, norms):
        return Y.scale_columns(1 / norms)

    def copy(self, Y):
        return Y  # pieces are never changed in place

    def columns(self, Y, start, stop):
        return Y.columns(start, stop)

    def hstack(self, pieces):
        return _Tall.hstack(pieces)

    def astype(self, Y, dtype):
        return Y.astype(dtype)

    def empty(self, width, dtype):
        run = self.runner
        return _Tall(run, run.map(_block_empty, run.blocks, shared=(width, dtype)), width,
                     dtype)


# --------------------------------------------------------------------------
# the operand: M = X, or X^T for a wide X
# --------------------------------------------------------------------------

class _BlockProducts:
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
        return run.gather_sum(parts)[0]

    def matmul(self, B):
        return self._x_tdot(B) if self.transpose else self._x_dot(B)

    def rmatmul(self, B):
        return self._x_dot(B) if self.transpose else self._x_tdot(B)


class DaskOperand:
    """X's row blocks as the operand of :func:`fastfactor.svd._sketch.sketch_svd`.

    ``M`` is X, or ``X^T`` when ``transpose``: M's rows are then X's
    columns (client-side ndarrays) and M's columns X's rows (row blocks).
    """

    def __init__(self, runner, shape, dtype, sketch_dtype, transpose, sq_norm):
        self.runner = runner
        self.shape = shape[::-1] if transpose else shape  # M's shape
        self.dtype = np.dtype(dtype)
        self.sketch_dtype = np.dtype(sketch_dtype)
        self.transpose = transpose
        self.sq_norm = sq_norm
        blocks, client = BlockSide(runner), DenseSide(shape[1])
        self.rows, self.cols = (client, blocks) if transpose else (blocks, client)
        self.products = _BlockProducts(runner, runner.blocks, dtype, transpose)
        if self.sketch_dtype == self.dtype:
            self.sketch = self.products
        else:  # one copy of X in the sketch dtype, kept on the workers for the fit
            copies = runner.map(_block_astype, runner.blocks, shared=(self.sketch_dtype,))
            self.sketch = _BlockProducts(runner, copies, self.sketch_dtype, transpose)

    def matmul(self, B):
        return self.products.matmul(B)

    def rmatmul(self, B):
        return self.products.rmatmul(B)

    def gaussian(self, rng, width):
        """``rng.standard_normal((M.shape[0], width))`` in the sketch dtype, as in memory.

        On X's row side it is drawn block after block (the same stream as one
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


# --------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------

class DaskSVDResult:
    """What a distributed fit returns: ``U`` stays in blocks, the rest is small."""

    def __init__(self, runner, U, S, Vt, sq_norm, column_variance_sum):
        self.runner, self.U, self.S, self.Vt = runner, U, S, Vt
        self.sq_norm = sq_norm
        self.column_variance_sum = column_variance_sum


def dask_randomized_svd(X, n_components, *, n_oversamples, n_iter, power_iteration_normalizer,
                        random_state, energy, sketch_dtype, svd_lapack_driver="gesdd",
                        block_size="auto"):
    """Randomized SVD of a prepared (whole-row chunks, float) dask array X.

    The steps of :func:`fastfactor.randomized_svd` with ``transpose='auto'``;
    U comes back as a :class:`_Tall` (in blocks), S and Vt as ndarrays,
    unflipped. Raises ValueError for input the fit cannot use (non-finite
    values, ``energy='linear'`` on a wide X).
    """
    runner = BlockRunner(X)
    m, n = X.shape
    max_rank = min(m, n)
    mode, value = check_n_components(n_components, max_rank)
    rng = check_random_state(random_state)
    finite, sq_norm, moments = runner.gather_sum(runner.map(_block_stats, runner.blocks))
    if finite < len(runner.blocks):
        raise ValueError("Input X contains NaN or infinity.")
    sq_norm = float(sq_norm)
    transpose = m < n
    if mode == "energy" and energy == "linear":
        mode, value = "rank", energy_rank(_all_singular_values(runner, X.shape), value,
                                          energy="linear")
    if n_iter == "auto":
        n_iter = default_n_iter(mode, value, max_rank)
    sketch, normalizer = resolve_sketch(sketch_dtype, power_iteration_normalizer, n_iter,
                                        X.dtype)
    op = DaskOperand(runner, (m, n), X.dtype, sketch, transpose, sq_norm)
    U, S, Vt, k = sketch_svd(op, mode, value, n_oversamples=n_oversamples, n_iter=n_iter,
                             normalizer=normalizer, rng=rng, block_size=block_size,
                             driver=svd_lapack_driver)
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
    check_gram_side(n)
    return singular_values_from_gram(_Tall(runner, runner.blocks, n, np.float64).gram())


def explained_variance(result, U):
    """Per-column variance of the tall U (count, mean, M2 merged over the blocks)."""
    run = result.runner
    return run.gather_sum(run.map(_block_moments, U.parts, shared=U.spec))[0].variance()
