"""NMF of a row-chunked ``dask.array``: each W block stays with its X block.

Per iteration, one task per row block updates its block of W with the
compiled kernels (HALS or multiplicative) and, in the same task, computes
the k x n and k x k pieces the H update needs (``W_i^T X_i``, ``W_i^T W_i``,
or the beta-divergence terms); a tree of tasks sums those, the client
gathers the sum (the iteration's one wait), updates H, and the next round's
tasks get the new H. Everything is submitted on futures
(:class:`fastfactor._dask.BlockRunner`): X's blocks are computed once and
kept on the workers, each W block stays on the worker of its X block, and no
dask graph is rebuilt per iteration. Only the beta != 2 multiplicative
solver with ``tol > 0`` waits once more, every 10 iterations, for its loss.

A worker that dies mid-fit loses its W blocks; the fit then restarts from the
last copy of the complete state it keeps on the client (taken every
``_SNAPSHOT_EVERY`` iterations, fetched in the same wait as that
iteration's sums), so it still ends with the same model. The W blocks are
re-scattered from that copy, which also cuts the chain of tasks the
scheduler would otherwise keep for the whole fit (one more wait every
``_SNAPSHOT_EVERY`` iterations). Results equal a
single-machine fit from the same initial factors, to rounding (the sums over
blocks are grouped differently).
"""
import logging

import numpy as np

from . import kernels
from ._dask import BlockRunner, block_task, prepare
from ._nmf_data import NMFData
from ._nmf_init import nndsvd_from_svd, random_init, resolve_init

_log = logging.getLogger(__name__)

#: iterations between two copies of the fit's state on the client
_SNAPSHOT_EVERY = 10


def _check_block(X_i):
    # per-block validation, reduced on the client: min, finiteness, sum, sum of squares
    X_i = np.asarray(X_i)
    return (_Min(X_i.min() if X_i.size else np.inf),
            np.array([float(np.isfinite(X_i).all()), X_i.sum(dtype=np.float64),
                      np.vdot(X_i, X_i).real]))


class _Min(float):
    """A number whose ``+`` is the minimum, so a tree sum of blocks finds the smallest entry."""

    def __add__(self, other):
        return _Min(min(self, other))


def _W_of(state):
    """A W handle holds W_i (scattered) or (W_i, stats) (straight from a round)."""
    return state[0] if isinstance(state, tuple) else state


# ------------------------------------------------------------------ block tasks

@block_task
def _hals_block(X_i, W_state, shared):
    Ht, HHt_reg, l1_reg_W, perm, inner, inner_tol, n_threads = shared
    W_i = _W_of(W_state)
    X_i = np.ascontiguousarray(X_i, dtype=W_i.dtype)
    W_i = W_i.copy()
    XHt = X_i @ Ht
    if l1_reg_W:
        XHt -= l1_reg_W
    violation = kernels.hals_update(W_i, XHt, HHt_reg, perm, inner, inner_tol,
                                    n_threads=n_threads)
    return W_i, (X_i.T @ W_i, W_i.T @ W_i, np.array(violation))


@block_task
def _mu_block(X_i, W_state, shared):
    from .nmf import _mu_H_terms, _mu_W_terms

    Ht, beta, l1_reg_W, l2_reg_W, gamma, zero_W, n_threads = shared
    W_i = _W_of(W_state)
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


@block_task
def _loss_block(X_i, W_state, shared):
    from .nmf import beta_divergence

    Ht, beta, n_threads = shared
    W_i = _W_of(W_state)
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
        self.runner = BlockRunner(X)
        self.dtype = X.dtype
        self.shape = X.shape
        self.n_threads = n_threads
        run = self.runner
        lowest, (finite, total, sq_norm) = run.gather([run.tree_sum(
            run.map(_check_block, run.blocks))])[0]
        self.min = float(lowest)
        if finite < len(run.blocks):
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
        """Split W into blocks lined up with X's row blocks, each sent to its X block."""
        return self.runner.scatter_rows(W)

    def gather_W(self, W_blocks):
        run = self.runner
        return np.concatenate(run.gather(run.map(_W_of, W_blocks)), axis=0)

    def W_array(self, W_blocks, k):
        """The (m x k) W blocks as a dask array, without bringing them to the client."""
        return self.runner.to_dask(self.runner.map(_W_of, W_blocks), k, self.dtype)

    def _round(self, task, W_blocks, shared, want_W=False):
        """One task per block: the new W blocks (left on the workers) and the summed stats.

        ``shared`` (H and the other small arguments) is sent once for all
        the tasks. With ``want_W`` the new W also comes back (for a snapshot
        or a checkpoint) in the same wait as the stats.
        """
        run = self.runner
        outs = run.map(task, run.blocks, W_blocks, shared=(run.share(shared),))
        wanted = [run.tree_sum(outs, pick=1)]
        if want_W:
            wanted += run.map(_W_of, outs)
        values = run.gather(wanted)
        return outs, values[0], np.concatenate(values[1:], axis=0) if want_W else None

    def loss(self, W_blocks, Ht, beta):
        run = self.runner
        parts = run.map(_loss_block, run.blocks, W_blocks,
                        shared=(run.share((Ht, beta, self.n_threads)),))
        return float(run.gather([run.tree_sum(parts)])[0][0])

    # -- solvers ----------------------------------------------------------
    def run(self, W, Ht, solver, *, beta, tol, max_iter, l1_reg_W, l1_reg_H, l2_reg_W,
            l2_reg_H, verbose, shuffle, random_state, max_inner_iter, callback=None,
            resume=None):
        """Fit from numpy W (m x k) and Ht (n x k).

        Returns the W blocks (still on the workers), Ht, n_iter and the losses.
        """
        from .nmf import _decode_rng_state, _encode_rng_state, _mu_gamma
        from ._validation import check_random_state
        from . import nmf as local

        rng = check_random_state(random_state)
        state = dict(n_iter=0, losses=[], violation_init=None,
                     error_at_init=None, previous_error=None)
        if resume is not None:
            state.update({k: resume[k] for k in state if k in resume})
            state["losses"] = list(state["losses"])
            if "rng_state" in resume:
                rng = np.random.RandomState()
                rng.set_state(_decode_rng_state(resume["rng_state"]))
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
        W_blocks = self.scatter_W(W)
        if solver != "cd" and state["error_at_init"] is None:
            state["error_at_init"] = float(np.sqrt(2 * self.loss(W_blocks, Ht, beta)))
            state["previous_error"] = state["error_at_init"]
        n_iter = state["n_iter"]
        # the state to restart from if a worker dies (W is still on the client here)
        snapshot = (W, Ht.copy(), dict(state), list(state["losses"]), rng.get_state())
        attempts = 0
        while n_iter < max_iter:
            # W comes back only for a snapshot or a checkpoint, in the iteration's one wait
            want_W = callback is not None or (n_iter + 1) % _SNAPSHOT_EVERY == 0
            try:
                W_blocks, Ht, done, W_full = self._iterate(
                    solver, W_blocks, Ht, n_iter + 1, state, rng, beta=beta, tol=tol,
                    l1_reg_W=l1_reg_W, l1_reg_H=l1_reg_H, l2_reg_W=l2_reg_W,
                    l2_reg_H=l2_reg_H, verbose=verbose, shuffle=shuffle,
                    inner=(inner_W, inner_H) if solver == "cd" else None,
                    gamma=None if solver == "cd" else gamma, want_W=want_W)
            except Exception as exc:  # a lost worker: restart from the snapshot
                if not _is_lost_work(exc) or attempts >= 3:
                    raise
                attempts += 1
                _log.info("lost work in iteration %d (%s); restarting from iteration %d",
                          n_iter + 1, type(exc).__name__, snapshot[2]["n_iter"])
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
            if n_iter % _SNAPSHOT_EVERY == 0:
                snapshot = (W_full, Ht.copy(), dict(state), list(state["losses"]),
                            rng.get_state())
                # restart the W blocks from the snapshot's data: each round's tasks
                # depend on the previous round's, and the scheduler keeps that whole
                # chain (with every round's H) while its end is held
                W_blocks = self.scatter_W(W_full)
            if callback is not None:
                full = dict(state, W=W_full, Ht=Ht)
                if solver == "cd":
                    full["rng_state"] = _encode_rng_state(rng.get_state())
                callback(full)
        return W_blocks, Ht, n_iter, state["losses"]

    def _iterate(self, solver, W_blocks, Ht, n_iter, state, rng, *, beta, tol, l1_reg_W,
                 l1_reg_H, l2_reg_W, l2_reg_H, verbose, shuffle, inner, gamma, want_W):
        """One outer iteration: one round of block tasks, one wait, the H update here.

        Returns the new W blocks, Ht, whether the fit has converged, and the
        whole new W when ``want_W`` (else None).
        """
        from . import nmf as local

        k = Ht.shape[1]
        if solver == "cd":
            HHt_reg = Ht.T @ Ht
            if l2_reg_W:
                HHt_reg.flat[:: k + 1] += l2_reg_W
            perm = rng.permutation(k) if shuffle else None
            W_blocks, (XtW, WtW, violation), W_full = self._round(
                _hals_block, W_blocks, (Ht, HHt_reg, l1_reg_W, perm, inner[0],
                                        local._INNER_DELTA ** 2, self.n_threads), want_W)
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
                return W_blocks, Ht, True, W_full
            if verbose:
                print(f"iteration {n_iter:4d}  violation: "
                      f"{violation / state['violation_init']:.3e}")
            return W_blocks, Ht, violation / state["violation_init"] <= tol, W_full
        zero_W = np.finfo(np.float64).eps if beta < 1 else 0.0
        zero_H = np.finfo(np.float64).eps if beta <= 1 else 0.0
        W_blocks, stats, W_full = self._round(
            _mu_block, W_blocks, (Ht, beta, l1_reg_W, l2_reg_W, gamma, zero_W, self.n_threads),
            want_W)
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
            if beta == 2:  # from the Gram matrices the round brought back: no extra pass
                cross = float(np.vdot(Ht.astype(np.float64), XtW.astype(np.float64)))
                loss = local.frobenius_from_gram(self.sq_norm, cross, WtW, Ht.T @ Ht)
            else:
                loss = self.loss(W_blocks, Ht, beta)
            state["losses"].append(loss)
            error = np.sqrt(2 * loss)
            if verbose:
                print(f"Epoch {n_iter:02d} error: {error:f}")
            if (state["previous_error"] - error) / state["error_at_init"] < tol:
                return W_blocks, Ht, True, W_full
            state["previous_error"] = float(error)
        return W_blocks, Ht, False, W_full


def _is_lost_work(exc):
    """Errors that mean a worker (and the data it held) went away, not a bug."""
    names = {type(e).__name__ for e in _chain(exc)}
    return bool(names & {"KilledWorker", "CancelledError", "FutureCancelledError",
                         "CommClosedError", "FutureLostError", "LostDataError"})


def _chain(exc):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__
