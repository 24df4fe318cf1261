"""Dask plumbing shared by the distributed paths.

Detection and preparation of dask arrays, and :class:`BlockRunner`, which
runs tasks on row blocks where the blocks live (futures on a ``distributed``
cluster, or in process), one per block or one per group of blocks held by a
worker thread, and sums their small results in a tree.
"""
import functools
import weakref
from collections import namedtuple

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


# ---------------------------------------------------------------------------
# tasks on row blocks, with futures kept where the blocks live
# ---------------------------------------------------------------------------

#: id(misaligned array) -> (weak reference to it, its aligned read-only copy)
_ALIGNED_COPIES = {}


def _aligned_copy(a):
    """An aligned copy of ``a``, made once for as long as ``a`` lives.

    A worker passes the same array object from its memory to every task that
    uses it, so an X block that arrived misaligned would otherwise be copied
    again in every iteration (40 MB blocks: a quarter of a task's time).
    The copy is read-only: tasks never write to their inputs, and one that
    tried would fail instead of changing what later tasks see.
    """
    key = id(a)
    entry = _ALIGNED_COPIES.get(key)
    if entry is not None and entry[0]() is a:
        return entry[1]
    copy = a.copy()
    copy.flags.writeable = False
    _ALIGNED_COPIES[key] = (weakref.ref(a, lambda _, key=key: _ALIGNED_COPIES.pop(key, None)),
                            copy)
    return copy


def aligned(value):
    """``value`` with every ndarray in it (one tuple level deep) aligned in memory.

    Arrays that ``distributed`` deserializes from a message can be misaligned
    (not even 8-byte aligned); numpy then skips BLAS for products with them,
    which made block tasks 2-8x slower. A copy fixes it (see
    :func:`_aligned_copy`).
    """
    if isinstance(value, np.ndarray):
        return value if value.flags.aligned else _aligned_copy(value)
    if isinstance(value, tuple):
        return tuple(aligned(v) if isinstance(v, np.ndarray) else v for v in value)
    return value


def block_task(fn):
    """Decorate a block task: its array arguments arrive aligned (see :func:`aligned`)."""
    @functools.wraps(fn)
    def task(*args):
        return fn(*[aligned(a) for a in args])
    return task


def default_client():
    """The ``distributed`` client dask would compute with now, or None.

    A client that exists but is not the active scheduler (e.g. inside
    ``dask.config.set(scheduler='threads')``) is not used.
    """
    try:
        import distributed
        from dask.base import get_scheduler
    except ImportError:
        return None
    client = getattr(get_scheduler(), "__self__", None)
    return client if isinstance(client, distributed.Client) else None


class _Value:
    """A result computed in this process (what a future is on a cluster)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class _LazyBlock:
    """One row block of X, computed from its dask graph each time a task needs it."""

    __slots__ = ("delayed",)

    def __init__(self, delayed):
        self.delayed = delayed

    @property
    def value(self):
        return aligned(np.asarray(self.delayed.compute()))


#: what a group task returns: its blocks' results (a list, in block order, or
#: None) and their sum (a tuple, or None); ``part[TOTAL]`` is the sum
Part = namedtuple("Part", "values total")
TOTAL = 1


def _block_values(value):
    """The per-block values a group task gets for one column: a list, in block order."""
    return value.values if isinstance(value, Part) else value


def _group_call(fn, pick, total, keep, n_columns, *columns_and_shared):
    """``fn`` on each block of a group, in block order; see :meth:`BlockRunner.map_groups`."""
    columns = [_block_values(c) for c in columns_and_shared[:n_columns]]
    shared = columns_and_shared[n_columns:]
    values = [fn(*row, *shared) for row in zip(*columns)]
    summed = _sum_parts(pick, *values) if total else None
    return Part(values if keep else None, summed)


def _nth_value(part, n):
    return _block_values(part)[n]


def _resolve(arg):
    """In process: the value of a handle, or of each handle in a list."""
    if isinstance(arg, list):
        return [_resolve(a) for a in arg]
    return arg.value if isinstance(arg, (_Value, _LazyBlock)) else arg


def _identity(value):
    return value


def _item(value, index):
    return value[index]


def _sum_parts(pick, *parts):
    """Element-wise sum of tuples (of arrays, or anything with ``+``), in the order given.

    A fixed order makes the sum deterministic, wherever the parts were computed.
    """
    if pick is not None:
        parts = [p[pick] for p in parts]
    total = list(parts[0])
    for part in parts[1:]:
        total = [acc + x for acc, x in zip(total, part)]
    return tuple(total)


def _apply_to_sum(fn, pick, n_parts, *parts_and_args):
    """``fn(_sum_parts(pick, *parts), *args)``; the first ``n_parts`` arguments are parts."""
    parts, args = parts_and_args[:n_parts], parts_and_args[n_parts:]
    return fn(_sum_parts(pick, *parts), *args)


class BlockRunner:
    """One task per row block of X, run where the block lives.

    With a ``distributed`` client as the active scheduler, X's blocks are
    computed once and stay on the workers as futures; tasks are submitted
    with ``client.submit`` on futures (no dask graph is rebuilt), their
    results stay on the workers, and :meth:`gather` is the only call that
    waits (one round trip). Without a client, the same tasks run in this
    process one block at a time (each with the kernels' own threads), and X's
    blocks are computed from its graph when a task needs them, so X is never
    held whole.

    Handles (futures, or in-process values) are opaque: pass them to
    :meth:`submit`/:meth:`map` and fetch them with :meth:`gather`.
    """

    #: a reduction task adds at most this many parts (in block order)
    fan_in = 8

    def __init__(self, X):
        self.client = default_client()
        delayed = list(X.to_delayed().ravel())
        self.homes = [None] * len(delayed)  # the worker each block was sent to
        self.slots = None  # the worker thread (an index) each block was sent to
        if self.client is not None:
            self.blocks = self._spread(self.client.compute(delayed))
        else:
            self.blocks = [_LazyBlock(d) for d in delayed]
        self.rows = tuple(int(r) for r in X.chunks[0])
        self.groups = self._group()

    def _spread(self, computed):
        """X's computed blocks, each moved (once) to the worker that keeps it.

        Worker w keeps a contiguous run of blocks in proportion to its
        threads. Where a block lands is otherwise up to where X happened to be
        persisted (5 of 8 blocks on one of two workers is common), and the
        busiest worker sets the pace of every iteration. A block whose worker
        dies is recomputed elsewhere (the restriction is loose); blocks that
        arrived misaligned are copied once, here.
        """
        slots = [w for w, n in sorted(self.client.nthreads().items()) for _ in range(n)]
        if not slots:
            return self.client.map(aligned, computed, pure=False)
        self.slots = [i * len(slots) // len(computed) for i in range(len(computed))]
        self.homes = [slots[s] for s in self.slots]
        return [self.client.submit(aligned, block, pure=False, allow_other_workers=True,
                                   workers=[home])
                for block, home in zip(computed, self.homes)]

    def _group(self):
        """The blocks' indices grouped by the worker thread they were sent to.

        A group is a contiguous run of blocks, and which blocks form it
        depends only on the number of blocks and of worker threads (not on
        the workers' addresses), so sums done per group and then across groups
        in group order are reproducible on a cluster of the same size. In
        this process every block is a group of its own (one block in memory
        at a time).
        """
        slots = self.slots or range(len(self.blocks))
        groups = {}
        for i, slot in enumerate(slots):
            groups.setdefault(slot, []).append(i)
        return [groups[s] for s in sorted(groups)]

    def submit(self, fn, *args):
        """``fn(*args)`` as a task; handles among ``args`` are replaced by their values."""
        if self.client is None:
            return _Value(fn(*[a.value if isinstance(a, (_Value, _LazyBlock)) else a
                               for a in args]))
        return self.client.submit(fn, *args, pure=False)

    def map(self, fn, *columns, shared=()):
        """``fn(columns[0][i], columns[1][i], ..., *shared)`` for every block i."""
        if self.client is None:
            return [self.submit(fn, *row, *shared) for row in zip(*columns)]
        # one Client.map: one message to the scheduler for all the blocks' tasks
        n = len(columns[0])
        return self.client.map(fn, *columns, *[[a] * n for a in shared], pure=False)

    def map_groups(self, fn, *columns, shared=(), total=False, pick=None, keep=True):
        """``fn(columns[0][i], ..., *shared)`` for every block i, one task per group of blocks.

        A round of one task per block spends more of its time on the
        scheduler (and, with a ``LocalCluster``, on the client's cores) than
        one task per worker thread, each over all of the blocks that thread's
        worker holds (:attr:`groups`); the task is sent to that worker, or
        elsewhere if it died.

        Parameters
        ----------
        fn : callable
            The block task.
        *columns : list
            Per-block arguments: :attr:`blocks` (X's row blocks), or the
            handles returned by an earlier ``map_groups`` or by
            :meth:`scatter_groups` (one per group).
        shared : tuple
            Arguments passed to every block's call.
        total : bool
            Also sum the blocks' results (``result[pick]`` if ``pick`` is
            given), in block order, in the task; sum the groups' sums with
            ``tree_sum(parts, pick=TOTAL)``.
        pick : int, optional
            See ``total``.
        keep : bool
            Keep the blocks' results (False when only their sum is wanted).

        Returns
        -------
        list
            One handle per group on a :class:`Part`.
        """
        n = len(columns)
        by_group = [[self._group_column(c, g, i) for c in columns]
                    for g, i in enumerate(self.groups)]
        if self.client is None:
            return [self.submit(_group_call, fn, pick, total, keep, n,
                                *[_resolve(c) for c in cols], *shared) for cols in by_group]
        return [self.client.submit(_group_call, fn, pick, total, keep, n, *cols, *shared,
                                   pure=False, workers=self._home(i), allow_other_workers=True)
                for cols, i in zip(by_group, self.groups)]

    def _group_column(self, column, g, indices):
        """Group ``g``'s argument from a column: X's blocks in it, or the group's handle."""
        return [column[i] for i in indices] if column is self.blocks else column[g]

    def _home(self, indices):
        home = self.homes[indices[0]]
        return None if home is None else [home]

    def scatter_groups(self, A):
        """Split a client-side array into handles lined up with :attr:`groups` (one wait).

        Each handle holds the list of the group's pieces, row block by row
        block; see :meth:`scatter_rows`.
        """
        bounds = np.cumsum((0,) + self.rows)
        pieces = [[np.ascontiguousarray(A[bounds[i]:bounds[i + 1]]) for i in group]
                  for group in self.groups]
        if self.client is None:
            return [_Value(p) for p in pieces]
        return self.client.scatter(pieces, hash=False)

    def groups_to_dask(self, handles, n_columns, dtype):
        """A dask array of the (rows_i x n_columns) arrays the group handles hold.

        Its chunks are X's row blocks (one task per block takes its array out
        of its group), so it lines up with X.
        """
        blocks = [self.submit(_nth_value, h, j)
                  for h, group in zip(handles, self.groups) for j in range(len(group))]
        return self.to_dask(blocks, n_columns, dtype)

    #: a client-side value whose copies for all the blocks' tasks add up to at
    #: most this many bytes goes inside each task; a larger one is sent once and
    #: fetched by the workers from where it lands (one more hop on the way)
    inline_bytes = 8 << 20

    def share(self, value):
        """A client-side value (array, or tuple of them) for every block's task."""
        items = value if isinstance(value, tuple) else (value,)
        size = sum(getattr(v, "nbytes", 0) for v in items)
        if size * len(self.blocks) <= self.inline_bytes:
            return value
        return self.submit(_identity, value)

    def item(self, handles, index):
        """Handles on ``value[index]`` of each handle (task results are often tuples)."""
        return [self.submit(_item, h, index) for h in handles]

    def tree_sum(self, parts, pick=None):
        """A handle on the sum of the tuples held by ``parts`` (``part[pick]`` if given).

        The sum is a tree of tasks adding up to :attr:`fan_in` parts each, in
        block order: the result does not depend on where the blocks live, and
        only the small summed pieces move between workers.
        """
        parts = [self.submit(_sum_parts, pick, *parts[i:i + self.fan_in])
                 for i in range(0, len(parts), self.fan_in)]
        while len(parts) > 1:
            parts = [self.submit(_sum_parts, None, *parts[i:i + self.fan_in])
                     for i in range(0, len(parts), self.fan_in)]
        return parts[0]

    def gather_sum(self, parts, pick=None):
        """The sum of the tuples held by ``parts`` (``part[pick]`` if given), here.

        For small parts: up to :attr:`fan_in` of them are fetched in one
        round trip and added in this process, in order, the same sum as
        :meth:`tree_sum`'s (which would first move them to one worker: one
        more task and one more hop before the result comes back).
        """
        if len(parts) > self.fan_in:
            return self.gather([self.tree_sum(parts, pick=pick)])[0]
        return _sum_parts(pick, *self.gather(parts))

    def submit_on_sum(self, fn, parts, *args, pick=None):
        """``fn(sum of parts, *args)`` as one task: :meth:`tree_sum`'s last level is done
        in ``fn``'s task, one scheduler hop (and task) fewer on an iteration's critical path.
        """
        while len(parts) > self.fan_in:
            parts = [self.submit(_sum_parts, pick, *parts[i:i + self.fan_in])
                     for i in range(0, len(parts), self.fan_in)]
            pick = None
        return self.submit(_apply_to_sum, fn, pick, len(parts), *parts, *args)

    def gather(self, handles):
        """The values of a list of handles, fetched in one round trip."""
        if self.client is None:
            return [h.value for h in handles]
        return self.client.gather(handles)

    def scatter_rows(self, A):
        """Split a client-side array into handles lined up with X's row blocks (one wait).

        The pieces are scattered: they carry no lineage, so a chain of tasks
        started from them is forgotten by the scheduler once released (an
        iterative fit re-scatters from time to time to keep the scheduler's
        task graph short). A piece that lands away from its X block moves
        once, with the first task that uses both.
        """
        bounds = np.cumsum((0,) + self.rows)
        pieces = [np.ascontiguousarray(A[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        if self.client is None:
            return [_Value(p) for p in pieces]
        return self.client.scatter(pieces, hash=False)

    def to_dask(self, handles, n_columns, dtype):
        """A dask array made of the (rows_i x n_columns) arrays the handles hold."""
        import dask.array as da

        if self.client is None:
            return da.from_array(np.concatenate([h.value for h in handles], axis=0),
                                 chunks=(self.rows, n_columns))
        parts = [da.from_delayed(h, shape=(r, n_columns), dtype=dtype)
                 for h, r in zip(handles, self.rows)]
        return da.concatenate(parts, axis=0)
