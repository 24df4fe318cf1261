"""NMF of a row-chunked ``dask.array``: each W block stays with its X block.

Per iteration, one task per worker thread (over the row blocks its worker
holds, :meth:`fastfactor._utils.dask.BlockRunner.map_groups`) updates those blocks
of W with the compiled kernels (HALS or multiplicative) and, in the same
task, computes and sums, in block order, the k x n and k x k pieces the H
update needs (``W_i^T X_i``, ``W_i^T W_i``, or the beta-divergence terms);
the H-update task adds the tasks' sums, in group order, so H is updated
where the sum ends up. The next iteration's block tasks take that
H directly, so the client is not on the critical path: it submits iteration
t + 1, then waits (once) for the few numbers of iteration t that decide
convergence (the violation, the loss). Everything is submitted on futures
(:class:`fastfactor._utils.dask.BlockRunner`): X's blocks are computed once and
kept on the workers, each W block stays on the worker of its X block, only
k x n pieces move, and no dask graph is rebuilt per iteration.

A worker that dies mid-fit loses its W blocks; the fit then restarts from the
last copy of the complete state it keeps on the client (taken every
``_SNAPSHOT_EVERY`` iterations, fetched in the same wait as that
iteration's sums), so it still ends with the same model. The W blocks are
re-scattered from that copy, which also cuts the chain of tasks the
scheduler would otherwise keep for the whole fit (one more wait every
``_SNAPSHOT_EVERY`` iterations). Results equal a
single-machine fit from the same initial factors, to rounding (the sums over
blocks are grouped differently; the grouping depends only on the number of
blocks and of worker threads, so a cluster of the same size repeats a fit).
"""
import logging
import time

import numpy as np

from .. import kernels
from ..checkpoint import encode_rng_state, restore_rng
from .._utils.dask import TOTAL, BlockRunner, block_task, prepare
from .._utils.validation import check_random_state
from ._data import NMFData
from ._init import nndsvd_from_svd, random_init, resolve_init
from ._losses import beta_divergence, frobenius_loss
from ._solvers import (
    HALS_INNER_TOL,
    hals_converged,
    hals_sweep_budgets,
    kl_H_denominator,
    mu_converged,
    mu_gamma,
    mu_H_terms,
    mu_test_due,
    mu_W_terms,
    mu_zero_floors,
    regularized,
    with_l1,
    with_l2,
)

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
#
# ``h`` is the H state of the previous iteration, a tuple (Ht, HHt_reg, report)
# made by an H-update task (or sent by the client at the start); ``params`` are
# the small per-iteration arguments, sent with each task.

@block_task
def _hals_block(X_i, W_state, h, params):
    Ht, HHt_reg = h[0], h[1]
    l1_reg_W, perm, inner, inner_tol, n_threads = params
    W_i = _W_of(W_state)
    X_i = np.ascontiguousarray(X_i, dtype=W_i.dtype)
    W_i = W_i.copy()
    XHt = with_l1(X_i @ Ht, l1_reg_W)
    violation = kernels.hals_update(W_i, XHt, HHt_reg, perm, inner, inner_tol,
                                    n_threads=n_threads)
    return W_i, (X_i.T @ W_i, W_i.T @ W_i, np.array(violation))


@block_task
def _mu_block(X_i, W_state, h, params):
    Ht = h[0]
    beta, l1_reg_W, l2_reg_W, gamma, zero_W, n_threads = params
    W_i = _W_of(W_state)
    X_i = np.ascontiguousarray(X_i, dtype=W_i.dtype)
    W_i = W_i.copy()
    data = NMFData(X_i, n_threads)
    if beta == 2:
        numerator, denominator = data.dot(Ht), W_i @ (Ht.T @ Ht)
    else:
        numerator, denominator = mu_W_terms(data, W_i, Ht, beta)
    kernels.mu_update(W_i, numerator, denominator, l1_reg_W, l2_reg_W, gamma, zero_W,
                      n_threads=n_threads)
    if beta == 2:
        return W_i, (data.tdot(W_i), W_i.T @ W_i)
    if beta == 1:  # the denominator is W's column sums, fixed up in the H update
        num, _ = mu_H_terms(data, W_i, Ht, beta)
        return W_i, (num, W_i.sum(axis=0))
    return W_i, mu_H_terms(data, W_i, Ht, beta)


@block_task
def _loss_block(X_i, W_state, h, params):
    beta, n_threads = params
    W_i = _W_of(W_state)
    X_i = np.ascontiguousarray(X_i, dtype=W_i.dtype)
    return (np.array(beta_divergence(NMFData(X_i, n_threads), W_i, h[0], beta)),)


# ------------------------------------------------------------------ H-update tasks
#
# They run where the summed statistics end up (a worker, or this process), so
# the next iteration's block tasks can start without the client; they return
# the new H state, whose ``report`` (a few numbers) is all the client waits for.

@block_task
def _hals_H(total, h, params):
    XtW, WtW, violation = total
    l1_reg_H, l2_reg_H, l2_reg_W, perm, inner, inner_tol, n_threads, sq_norm = params
    XtW_reg, WtW_reg = regularized(XtW, WtW, l1_reg_H, l2_reg_H)
    Ht = h[0].copy()
    violation = float(violation) + kernels.hals_update(Ht, XtW_reg, WtW_reg, perm, inner,
                                                       inner_tol, n_threads=n_threads)
    HHt = Ht.T @ Ht
    loss = frobenius_loss(sq_norm, XtW, Ht, WtW, HHt)
    return Ht, with_l2(HHt, l2_reg_W), (violation, loss)


@block_task
def _mu_H(total, h, params):
    beta, l1_reg_H, l2_reg_H, gamma, zero_H, n_threads, sq_norm, gram_loss = params
    Ht = h[0].copy()
    if beta == 2:
        XtW, WtW = total
        numerator, denominator = XtW, Ht @ WtW
    elif beta == 1:
        numerator, W_sum = total
        denominator = kl_H_denominator(W_sum.copy())
    else:
        numerator, denominator = total
    kernels.mu_update(Ht, numerator, denominator, l1_reg_H, l2_reg_H, gamma, zero_H,
                      n_threads=n_threads)
    loss = None
    if gram_loss:  # Frobenius loss from the Gram matrices at hand: no extra pass
        loss = frobenius_loss(sq_norm, XtW, Ht, WtW, Ht.T @ Ht)
    return Ht, None, (loss,)


def _report(h):
    return h[2]


# --------------------------------------------------------------------- the fit

class DaskNMF:
    """One distributed NMF fit; ``run`` mirrors :func:`fastfactor.nmf._solvers.fit_hals` /
    :func:`fastfactor.nmf._solvers.fit_multiplicative` with X split in row blocks."""

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
        lowest, (finite, total, sq_norm) = run.gather_sum(run.map_groups(
            _check_block, run.blocks, total=True, keep=False), pick=TOTAL)
        self.min = float(lowest)
        if finite < len(run.blocks):
            raise ValueError("Input X contains NaN or infinity.")
        if lowest < 0:
            raise ValueError(f"Negative values in data passed to NMF (input X). It needs X >= 0 "
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
        """Split W into blocks lined up with X's row blocks, one handle per group of blocks."""
        return self.runner.scatter_groups(W)

    def W_array(self, W_blocks, k):
        """The (m x k) W blocks as a dask array, without bringing them to the client."""
        run = self.runner
        return run.groups_to_dask(run.map_groups(_W_of, W_blocks), k, self.dtype)

    def share_H(self, Ht, HHt_reg=None):
        """A handle on an H state made on the client (sent once to the workers)."""
        return self.runner.share((Ht, HHt_reg, None))

    def loss(self, W_blocks, Ht, beta):
        """The beta-divergence of (W, H), summed over the blocks (one wait)."""
        return float(self.runner.gather([self._loss(W_blocks, self.share_H(Ht), beta)])[0][0])

    def _loss(self, W_blocks, h, beta):
        run = self.runner
        return run.tree_sum(run.map_groups(_loss_block, run.blocks, W_blocks, total=True,
                                           keep=False, shared=(h, (beta, self.n_threads))),
                            pick=TOTAL)

    # -- solvers ----------------------------------------------------------
    def run(self, W, Ht, solver, *, beta, tol, max_iter, l1_reg_W, l1_reg_H, l2_reg_W,
            l2_reg_H, verbose, shuffle, random_state, max_inner_iter, callback=None,
            resume=None):
        """Fit from numpy W (m x k) and Ht (n x k).

        Returns the W blocks (still on the workers), Ht, n_iter and the losses.

        Each iteration is one round of tasks (:meth:`_submit`). The client
        submits iteration t + 1 before it waits for the few numbers that
        say whether iteration t converged, so the workers never wait for the
        client; if t did converge, t + 1 is dropped (and the random draws it
        made are undone). Iterations that must bring W back (snapshots,
        checkpoints) are waited for before the next one is submitted.
        """
        rng = check_random_state(random_state)
        state = dict(n_iter=0, losses=[], violation_init=None,
                     error_at_init=None, previous_error=None)
        if resume is not None:
            state.update({k: resume[k] for k in state if k in resume})
            state["losses"] = list(state["losses"])
            if "rng_state" in resume:
                rng = restore_rng(resume["rng_state"])
        cfg = self._config(solver, W.shape[1], beta=beta, tol=tol, l1_reg_W=l1_reg_W,
                           l1_reg_H=l1_reg_H, l2_reg_W=l2_reg_W, l2_reg_H=l2_reg_H,
                           shuffle=shuffle, max_inner_iter=max_inner_iter)
        HHt_reg = with_l2(Ht.T @ Ht, l2_reg_W) if solver == "cd" else None
        run = self.runner
        W_blocks = self.scatter_W(W)
        h = self.share_H(Ht, HHt_reg)
        if solver != "cd" and state["error_at_init"] is None:
            state["error_at_init"] = float(np.sqrt(2 * run.gather([self._loss(
                W_blocks, h, beta)])[0][0]))
            state["previous_error"] = state["error_at_init"]
        n_iter = state["n_iter"]
        # the state to restart from if a worker dies (W is still on the client here)
        snapshot = (W, (Ht.copy(), HHt_reg, None), dict(state), list(state["losses"]),
                    rng.get_state())
        attempts = 0
        ahead = None  # iteration n_iter + 1, submitted before n_iter's numbers came back
        lookahead = run.client is not None  # in process, a dropped iteration is pure waste
        while n_iter < max_iter:
            try:
                current = ahead or self._submit(n_iter + 1, W_blocks, h, rng, cfg)
                ahead = None
                t = current.n_iter
                # a snapshot after the last iteration would only be thrown away
                snapshot_due = t % _SNAPSHOT_EVERY == 0 and t < max_iter
                sync = callback is not None or snapshot_due
                if lookahead and not sync and t < max_iter:
                    ahead = self._submit(t + 1, current.outs, current.h, rng, cfg)
                # the iteration's one wait: its numbers (and W and H when needed)
                wanted = [current.h if sync else current.report]
                if current.loss is not None:
                    wanted.append(current.loss)
                if sync:
                    wanted += run.map_groups(_W_of, current.outs)
                values = run.gather(wanted)
            except Exception as exc:  # a lost worker: restart from the snapshot
                if not _is_lost_work(exc) or attempts >= 3:
                    raise
                attempts += 1
                _log.info("lost work in iteration %d (%s); restarting from iteration %d",
                          n_iter + 1, type(exc).__name__, snapshot[2]["n_iter"])
                ahead = None
                state, W_blocks, h = self._restore(snapshot, rng)
                n_iter = state["n_iter"]
                continue
            h_value = values.pop(0) if sync else None
            report = h_value[2] if sync else values.pop(0)
            loss = float(values.pop(0)[0]) if current.loss is not None else None
            done = self._account(cfg, t, report, loss, state, verbose)
            n_iter = state["n_iter"] = t
            W_blocks, h = current.outs, current.h
            if done:
                if ahead is not None:  # undo what the dropped iteration drew
                    rng.set_state(ahead.rng_before)
                    ahead = None
                break
            if not sync:
                continue
            W_full = np.concatenate([W_i for part in values for W_i in part.values], axis=0)
            if snapshot_due:
                snapshot = (W_full, h_value, dict(state), list(state["losses"]),
                            rng.get_state())
                # restart the W blocks from the snapshot's data: each round's tasks
                # depend on the previous round's, and the scheduler keeps that whole
                # chain (with every round's H) while its end is held
                W_blocks = self.scatter_W(W_full)
                h = self.share_H(h_value[0], h_value[1])
            if callback is not None:
                full = dict(state, W=W_full, Ht=h_value[0])
                if solver == "cd":
                    full["rng_state"] = encode_rng_state(rng)
                callback(full)
        Ht = np.array(run.gather([h])[0][0])
        return W_blocks, Ht, n_iter, state["losses"]

    def _config(self, solver, k, *, beta, tol, l1_reg_W, l1_reg_H, l2_reg_W, l2_reg_H,
                shuffle, max_inner_iter):
        """The solver's settings, as the single-machine solver derives them."""
        cfg = dict(solver=solver, beta=beta, tol=tol, l1_reg_W=l1_reg_W, l1_reg_H=l1_reg_H,
                   l2_reg_W=l2_reg_W, l2_reg_H=l2_reg_H, shuffle=shuffle, k=k,
                   started=time.perf_counter())
        if solver != "cd":
            cfg["gamma"] = mu_gamma(beta)
            cfg["zero_W"], cfg["zero_H"] = mu_zero_floors(beta)
            return cfg
        m, n = self.shape  # dense X: every entry is a non-zero
        cfg["inner_W"], cfg["inner_H"] = hals_sweep_budgets(self.shape, k, m * n,
                                                            max_inner_iter)
        return cfg

    def _restore(self, snapshot, rng):
        """State, W blocks and H state of a snapshot, sent back to the workers."""
        W_snap, h_snap, state_snap, losses_snap, rng_snap = snapshot
        rng.set_state(rng_snap)
        return (dict(state_snap, losses=list(losses_snap)), self.scatter_W(W_snap),
                self.share_H(h_snap[0].copy(), h_snap[1]))

    def _submit(self, n_iter, W_blocks, h, rng, cfg):
        """Submit iteration ``n_iter``: one task per block, their tree sum, the H update.

        Nothing waits here. The random draws (the sweep orders of a shuffled
        HALS) happen here, in the same order as in the single-machine solver.
        """
        run = self.runner
        rng_before = rng.get_state() if cfg["shuffle"] else None
        k, loss = cfg["k"], None
        if cfg["solver"] == "cd":
            perm = rng.permutation(k) if cfg["shuffle"] else None
            outs = run.map_groups(_hals_block, run.blocks, W_blocks, total=True, pick=1,
                                  shared=(h, (cfg["l1_reg_W"], perm, cfg["inner_W"],
                                              HALS_INNER_TOL, self.n_threads)))
            perm = rng.permutation(k) if cfg["shuffle"] else None
            h = run.submit_on_sum(_hals_H, outs, h, (
                cfg["l1_reg_H"], cfg["l2_reg_H"], cfg["l2_reg_W"], perm, cfg["inner_H"],
                HALS_INNER_TOL, self.n_threads, self.sq_norm), pick=TOTAL)
        else:
            beta = cfg["beta"]
            check = mu_test_due(n_iter, cfg["tol"])
            outs = run.map_groups(_mu_block, run.blocks, W_blocks, total=True, pick=1,
                                  shared=(h, (beta, cfg["l1_reg_W"], cfg["l2_reg_W"],
                                              cfg["gamma"], cfg["zero_W"], self.n_threads)))
            h = run.submit_on_sum(_mu_H, outs, h, (
                beta, cfg["l1_reg_H"], cfg["l2_reg_H"], cfg["gamma"], cfg["zero_H"],
                self.n_threads, self.sq_norm, check and beta == 2), pick=TOTAL)
            if check and beta != 2:  # a pass over X for the loss, in the same wait
                loss = self._loss(outs, h, beta)
        return _Round(n_iter, outs, h, run.submit(_report, h), loss, rng_before)

    @staticmethod
    def _account(cfg, n_iter, report, loss, state, verbose):
        """Record iteration ``n_iter``'s numbers in ``state``; True when it converged."""
        tol = cfg["tol"]
        if cfg["solver"] == "cd":
            violation, value = report
            return hals_converged(state, n_iter, violation, tol, verbose, loss=value)
        if not mu_test_due(n_iter, tol):
            return False
        return mu_converged(state, n_iter, report[0] if loss is None else loss, tol, verbose,
                            started=cfg["started"])


class _Round:
    """The handles of one submitted iteration."""

    __slots__ = ("n_iter", "outs", "h", "report", "loss", "rng_before")

    def __init__(self, n_iter, outs, h, report, loss, rng_before):
        self.n_iter, self.outs, self.h, self.report = n_iter, outs, h, report
        self.loss, self.rng_before = loss, rng_before


def _is_lost_work(exc):
    """Errors that mean a worker (and the data it held) went away, not a bug."""
    names = {type(e).__name__ for e in _chain(exc)}
    return bool(names & {"KilledWorker", "CancelledError", "FutureCancelledError",
                         "CommClosedError", "FutureLostError", "LostDataError"})


def _chain(exc):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__
