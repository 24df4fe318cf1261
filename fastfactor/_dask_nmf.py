"""NMF of a row-chunked ``dask.array``: each W block stays with its X block.

Per iteration, one task per row block updates its block of W with the
compiled kernels (HALS or multiplicative) and returns only the k x n and
k x k pieces the H update needs (``W_i^T X_i``, ``W_i^T W_i``, or the
beta-divergence terms); those are summed in a tree, H is updated on the
client, and the new H (k x n) is sent with the next round. The graph of an
iteration is O(number of blocks) and the W blocks are persisted between
iterations, so they never travel.

A worker that dies mid-fit loses its W blocks; the fit then restarts from the
last copy of the complete state it keeps on the client (taken every
``_SNAPSHOT_EVERY`` iterations), so it still ends with the same model.
Results equal a single-machine fit from the same initial factors, to
rounding (the sums over blocks are grouped differently).
"""
import numpy as np

from . import kernels
from ._dask import prepare, tree_sum
from ._nmf_data import NMFData
from ._nmf_init import nndsvd_from_svd, random_init, resolve_init

_SNAPSHOT_EVERY = 5


def _check_block(X_i):
    # per-block validation, reduced on the client: min, finiteness, sum, sum of squares
    X_i = np.asarray(X_i)
    return np.array([X_i.min() if X_i.size else np.inf, float(np.isfinite(X_i).all()),
                     X_i.sum(dtype=np.float64), np.vdot(X_i, X_i).real])


# ------------------------------------------------------------------ block tasks

def _hals_block(X_i, W_i, Ht, HHt_reg, l1_reg_W, perm, inner, inner_tol, n_threads):
    X_i = np.ascontiguousarray(X_i, dtype=W_i.dtype)
    W_i = W_i.copy()
    XHt = X_i @ Ht
    if l1_reg_W:
        XHt -= l1_reg_W
    violation = kernels.hals_update(W_i, XHt, HHt_reg, perm, inner, inner_tol,
                                    n_threads=n_threads)
    return W_i, (X_i.T @ W_i, W_i.T @ W_i, np.array(violation))


def _mu_block(X_i, W_i, Ht, beta, l1_reg_W, l2_reg_W, gamma, zero_W, n_threads):
    from .nmf import _mu_H_terms, _mu_W_terms

    X_i = np.ascontiguousarray(X_i, dtype=W_i.dtype)
    W_i = W_i.copy()
    data = NMFData(X_i, n_threads)
    if beta == 2:
        numerator, denominator = data.dot(Ht), W_i @ (Ht.T @ Ht)
    else:
        numerator, denominator = _mu_W_terms(data, W_i, Ht, beta)
    kernels.mu_update(W_i, numerator, denominator, l1_reg_W, l2_reg_W, gamma, zero_W,
                      n_threads=n_threads)
    if beta == 2:
        return W_i, (data.tdot(W_i), W_i.T @ W_i)
    if beta == 1:  # the denominator is W's column sums, fixed up on the client
        num, _ = _mu_H_terms(data, W_i, Ht, beta)
        return W_i, (num, W_i.sum(axis=0))
    return W_i, _mu_H_terms(data, W_i, Ht, beta)


def _loss_block(X_i, W_i, Ht, beta, n_threads):
    from .nmf import beta_divergence

    X_i = np.ascontiguousarray(X_i, dtype=W_i.dtype)
    return (np.array(beta_divergence(NMFData(X_i, n_threads), W_i, Ht, beta)),)


# --------------------------------------------------------------------- the fit

class DaskNMF:
    """One distributed NMF fit; ``run`` mirrors :func:`fastfactor.nmf.fit_hals` /
    :func:`fastfactor.nmf.fit_multiplicative` with X split in row blocks."""

    def __init__(self, X, n_threads):
        X, self.da = prepare(X)
        import dask

        self.dask = dask
        self.X = X
        self.blocks = list(X.to_delayed().ravel())
        self.rows = np.cumsum((0,) + X.chunks[0])
        self.dtype = X.dtype
        self.shape = X.shape
        self.n_threads = n_threads
        stats = tree_sum(dask, [dask.delayed(lambda b: (_check_block(b),))(b)
                                 for b in self.blocks])
        (summary,) = dask.compute(stats)[0]
        lowest, finite, total, sq_norm = summary
        self.min = float(lowest)
        if finite < len(self.blocks):
            raise ValueError("Input X contains NaN or infinity.")
        if lowest < 0:
            raise ValueError(f"Negative values in data passed to NMF (X): it needs X >= 0 "
                             f"(min found: {lowest:g}).")
        self.mean = total / (self.shape[0] * self.shape[1])
        self.sq_norm = float(sq_norm)

    # -- factors ----------------------------------------------------------
    def initial_factors(self, n_components, init, random_state):
        """W (numpy, m x k) and H (k x n) as the single-machine fit would make them."""
        init = resolve_init(init, n_components, self.shape)
        if init == "random":
            return random_init(self.shape, n_components, self.mean, self.dtype, random_state)
        seed = random_state if isinstance(random_state, (int, np.integer)) else None
        U, S, V = self.da.linalg.svd_compressed(self.X, n_components, n_power_iter=4,
                                                seed=seed)
        U, S, V = self.dask.compute(U, S, V)
        W, H = nndsvd_from_svd(U, S, V, init, self.mean, random_state=random_state)
        return W.astype(self.dtype), H.astype(self.dtype)

    def scatter_W(self, W):
        """Split W into blocks lined up with X's row chunks and persist them."""
        parts = [self.dask.delayed(np.ascontiguousarray(W[a:b]))
                 for a, b in zip(self.rows[:-1], self.rows[1:])]
        return list(self.dask.persist(*parts))

    def gather_W(self, W_blocks):
        return np.concatenate(self.dask.compute(*W_blocks), axis=0)

    def _round(self, task, W_blocks, *args):
        """One task per block; returns the persisted new W blocks and the summed stats.

        The small shared arguments (H, its Gram matrix) become one graph key
        each, so they are serialized once per round, not once per task.
        """
        args = [self.dask.delayed(a, pure=True) if isinstance(a, np.ndarray) else a
                for a in args]
        outs = [self.dask.delayed(task, nout=2)(X_i, W_i, *args)
                for X_i, W_i in zip(self.blocks, W_blocks)]
        new_W = [o[0] for o in outs]
        total = tree_sum(self.dask, [o[1] for o in outs])
        *new_W, total = self.dask.persist(*new_W, total)
        return list(new_W), self.dask.compute(total)[0]

    def loss(self, W_blocks, Ht, beta):
        parts = [self.dask.delayed(_loss_block)(X_i, W_i, Ht, beta, self.n_threads)
                 for X_i, W_i in zip(self.blocks, W_blocks)]
        return float(self.dask.compute(tree_sum(self.dask, parts))[0][0])

    # -- solvers ----------------------------------------------------------
    def run(self, W, Ht, solver, *, beta, tol, max_iter, l1_reg_W, l1_reg_H, l2_reg_W,
            l2_reg_H, verbose, shuffle, random_state, max_inner_iter, callback=None,
            resume=None):
        """Fit from numpy W (m x k) and Ht (n x k); returns W, Ht, n_iter, losses."""
        from .checkpoint import encode_rng_state, restore_rng
        from .nmf import _mu_gamma
        from ._validation import check_random_state
        from . import nmf as local

        rng = check_random_state(random_state)
        state = dict(n_iter=0, losses=[], violation_init=None,
                     error_at_init=None, previous_error=None)
        if resume is not None:
            state.update({k: resume[k] for k in state if k in resume})
            state["losses"] = list(state["losses"])
            if "rng_state" in resume:
                rng = restore_rng(resume["rng_state"])
        m, n = self.shape
        k = W.shape[1]
        if solver == "cd":
            nnz = m * n
            inner_W = inner_H = max_inner_iter
            if max_inner_iter == "auto":
                inner_W = local._inner_sweeps(m, k, 2 * nnz * k + n * k * k)
                inner_H = local._inner_sweeps(n, k, 2 * nnz * k + m * k * k)
        else:
            gamma = _mu_gamma(beta)
            if state["error_at_init"] is None:
                W_blocks = self.scatter_W(W)
                state["error_at_init"] = float(np.sqrt(2 * self.loss(W_blocks, Ht, beta)))
                state["previous_error"] = state["error_at_init"]
        snapshot = None
        attempts = 0
        W_blocks = self.scatter_W(W)
        n_iter = state["n_iter"]
        while n_iter < max_iter:
            if snapshot is None or n_iter % _SNAPSHOT_EVERY == 0:
                snapshot = (self.gather_W(W_blocks), Ht.copy(), dict(state),
                            list(state["losses"]), rng.get_state())
            try:
                W_blocks, Ht, done = self._iterate(
                    solver, W_blocks, Ht, n_iter + 1, state, rng, beta=beta, tol=tol,
                    l1_reg_W=l1_reg_W, l1_reg_H=l1_reg_H, l2_reg_W=l2_reg_W,
                    l2_reg_H=l2_reg_H, verbose=verbose, shuffle=shuffle,
                    inner=(inner_W, inner_H) if solver == "cd" else None,
                    gamma=None if solver == "cd" else gamma)
            except Exception as exc:  # a lost worker: restart from the snapshot
                if not _is_lost_work(exc) or attempts >= 3:
                    raise
                attempts += 1
                W_snap, Ht_snap, state_snap, losses_snap, rng_snap = snapshot
                state = dict(state_snap, losses=list(losses_snap))
                rng.set_state(rng_snap)
                Ht = Ht_snap.copy()
                W_blocks = self.scatter_W(W_snap)
                n_iter = state["n_iter"]
                continue
            n_iter += 1
            state["n_iter"] = n_iter
            if done:
                break
            if callback is not None:
                full = dict(state, W=self.gather_W(W_blocks), Ht=Ht)
                if solver == "cd":
                    full["rng_state"] = encode_rng_state(rng)
                callback(full)
        return self.gather_W(W_blocks), Ht, n_iter, state["losses"]

    def _iterate(self, solver, W_blocks, Ht, n_iter, state, rng, *, beta, tol, l1_reg_W,
                 l1_reg_H, l2_reg_W, l2_reg_H, verbose, shuffle, inner, gamma):
        """One outer iteration; returns (W blocks, Ht, whether the fit has converged)."""
        from . import nmf as local

        k = Ht.shape[1]
        if solver == "cd":
            HHt_reg = Ht.T @ Ht
            if l2_reg_W:
                HHt_reg.flat[:: k + 1] += l2_reg_W
            perm = rng.permutation(k) if shuffle else None
            W_blocks, (XtW, WtW, violation) = self._round(
                _hals_block, W_blocks, Ht, HHt_reg, l1_reg_W, perm, inner[0],
                local._INNER_DELTA ** 2, self.n_threads)
            violation = float(violation)
            XtW_reg, WtW_reg = local._regularized(XtW, WtW, l1_reg_H, l2_reg_H)
            perm = rng.permutation(k) if shuffle else None
            Ht = Ht.copy()
            violation += kernels.hals_update(Ht, XtW_reg, WtW_reg, perm, inner[1],
                                             local._INNER_DELTA ** 2, n_threads=self.n_threads)
            cross = float(np.vdot(Ht.astype(np.float64), XtW.astype(np.float64)))
            state["losses"].append(local.frobenius_from_gram(self.sq_norm, cross, WtW,
                                                             Ht.T @ Ht))
            if n_iter == 1 or state["violation_init"] is None:
                state["violation_init"] = violation
            if state["violation_init"] == 0:
                return W_blocks, Ht, True
            if verbose:
                print(f"iteration {n_iter:4d}  violation: "
                      f"{violation / state['violation_init']:.3e}")
            return W_blocks, Ht, violation / state["violation_init"] <= tol
        zero_W = np.finfo(np.float64).eps if beta < 1 else 0.0
        zero_H = np.finfo(np.float64).eps if beta <= 1 else 0.0
        W_blocks, stats = self._round(_mu_block, W_blocks, Ht, beta, l1_reg_W, l2_reg_W,
                                      gamma, zero_W, self.n_threads)
        Ht = Ht.copy()
        if beta == 2:
            XtW, WtW = stats
            numerator, denominator = XtW, Ht @ WtW
        elif beta == 1:
            numerator, W_sum = stats
            W_sum = W_sum.copy()
            W_sum[W_sum == 0] = 1.0
            denominator = W_sum.reshape(1, k)
        else:
            numerator, denominator = stats
        kernels.mu_update(Ht, numerator, denominator, l1_reg_H, l2_reg_H, gamma, zero_H,
                          n_threads=self.n_threads)
        if tol > 0 and n_iter % 10 == 0:
            if beta == 2:
                cross = float(np.vdot(Ht.astype(np.float64), XtW.astype(np.float64)))
                loss = local.frobenius_from_gram(self.sq_norm, cross, WtW, Ht.T @ Ht)
            else:
                loss = self.loss(W_blocks, Ht, beta)
            state["losses"].append(loss)
            error = np.sqrt(2 * loss)
            if verbose:
                print(f"Epoch {n_iter:02d} error: {error:f}")
            if (state["previous_error"] - error) / state["error_at_init"] < tol:
                return W_blocks, Ht, True
            state["previous_error"] = float(error)
        return W_blocks, Ht, False

    def transform_blocks(self, model):
        """model.transform applied block by block, as a dask array."""
        k = model.n_components_
        return self.X.map_blocks(lambda b: model.transform(np.asarray(b)), dtype=self.dtype,
                                 chunks=(self.X.chunks[0], (k,)))


def _is_lost_work(exc):
    """Errors that mean a worker (and the data it held) went away, not a bug."""
    names = {type(e).__name__ for e in _chain(exc)}
    return bool(names & {"KilledWorker", "CancelledError", "FutureCancelledError",
                         "CommClosedError", "FutureLostError", "LostDataError"})


def _chain(exc):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__
