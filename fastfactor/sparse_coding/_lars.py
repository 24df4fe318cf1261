"""Least angle regression (LAR) on the Gram matrix, stopped after ``n_nonzero_coefs`` steps.

``sparse_encode(algorithm='lars')`` in scikit-learn runs ``Lars(n_nonzero_coefs=...)``
on each signal with the precomputed ``G = D @ D.T`` and ``q = D @ x``. This
module follows that path step for step, so the codes agree with
scikit-learn's to rounding:

* the path starts at ``c = 0`` with the correlations ``q``; each step adds
  the inactive atom of largest ``|correlation|`` to the active set, then
  moves the active coefficients along the equiangular direction (the
  least-squares direction on the active atoms, signed by their
  correlations) until an inactive atom's correlation catches up (or the
  remaining correlation reaches 0);
* a step counts as one of the ``n_nonzero_coefs`` even when it adds no atom:
  when an active coefficient would cross zero, the step still goes the
  whole way and that atom's sign is flipped for the next step (LAR, not the
  lasso variant, which would drop the atom);
* the path stops early when the largest remaining correlation divided by
  ``n_features`` is below float32's epsilon;
* an atom that is (numerically) a combination of the active ones (Cholesky
  pivot below 1e-7) is not added: its correlation is zeroed and a
  :class:`ConvergenceWarning` says so. scikit-learn keeps its atom order
  and its correlation order apart at that point (the swap of the
  correlations is undone, the swap of the atoms is not); the order
  bookkeeping below (``order``, ``corr``) reproduces that too.

Every signal is solved in float64 (float32 input included), with the
rounding of the direction's correlations to the input dtype's decimal
precision that scikit-learn applies (it keeps the argmax stable).
"""
import warnings

import numpy as np
from scipy.linalg import get_blas_funcs, get_lapack_funcs

from ..exceptions import ConvergenceWarning

_TINY32 = np.finfo(np.float32).tiny      # keeps the step ratios finite
_STOP_TOL = np.finfo(np.float32).eps     # remaining correlation / n_features to stop at
_EPS = np.finfo(np.float64).eps          # floor of the Cholesky pivots
_PIVOT_MIN = 1e-7                        # smaller pivot: the atom is degenerate
_HUGE = np.finfo(np.float64).max
_POTRS = get_lapack_funcs(("potrs",), (np.empty(1),))[0]
_TRSV = get_blas_funcs("trsv", (np.empty(1),))   # less call overhead than solve_triangular


def _min_pos(values):
    """The smallest strictly positive entry, or the largest float when there is none."""
    pos = values[values > 0]
    return float(pos.min()) if pos.size else _HUGE


class _Degenerate:
    """Atoms refused for a degenerate pivot, tallied over the signals of one encode."""

    def __init__(self):
        self.count = 0
        self.smallest = np.inf

    def add(self, pivot):
        self.count += 1
        self.smallest = min(self.smallest, pivot)

    def warn(self):
        if self.count:
            warnings.warn(
                f"Regressors in active set degenerate. Dropping a regressor "
                f"({self.count} time(s) over the signals of this encode; smallest cholesky "
                f"pivot element {self.smallest:.3e}). Reduce n_nonzero_coefs or use a "
                "dictionary without (nearly) linearly dependent atoms.",
                ConvergenceWarning)


def _lar_one(G, q, n_steps, n_features, decimals, degenerate):
    """LAR coefficients of one signal: ``G`` float64 (k, k), ``q`` float64 (k,).

    Returns the coefficients (k,), float64.
    """
    k = q.shape[0]
    coef = np.zeros(k)
    max_active = min(n_steps, k)
    corr = q.copy()            # correlations, by position: active ones first
    order = np.arange(k)       # the atom at each position
    L = np.zeros((max_active, max_active))      # Cholesky factor of G[active, active]
    G_active = np.empty((k, max_active))        # columns G[:, active]
    signs = np.zeros(max_active)
    c_active = np.zeros(max_active)             # coefficients of the active atoms
    n_active = n_iter = 0
    flipped = False
    while True:
        rest = corr[n_active:]
        if rest.size:
            pick = int(np.argmax(np.abs(rest)))
            c_pick = rest[pick]
            C = abs(c_pick)
        else:
            C = 0.0
        if C / n_features <= _STOP_TOL or n_iter >= n_steps or n_active >= k:
            break
        if not flipped:
            # add the atom at position n_active + pick to the Cholesky factor
            m, n = n_active, n_active + pick
            corr[m], corr[n] = corr[n], corr[m]
            order[m], order[n] = order[n], order[m]
            atom = order[m]
            w = G[atom, order[:m]]
            if m:
                w = _TRSV(L[:m, :m], w, lower=1)
            pivot = max(np.sqrt(abs(G[atom, atom] - w @ w)), _EPS)
            if pivot < _PIVOT_MIN:
                degenerate.add(pivot)
                corr[m] = 0.0
                corr[m], corr[n] = corr[n], corr[m]
                continue
            L[m, :m] = w
            L[m, m] = pivot
            signs[m] = np.sign(c_pick)
            G_active[:, m] = G[:, atom]
            n_active += 1
        na = n_active
        direction, _ = _POTRS(L[:na, :na], signs[:na], lower=True)
        if direction.size == 1 and direction[0] == 0:
            direction[0] = 1.0
            AA = 1.0
        else:
            AA = 1.0 / np.sqrt(np.sum(direction * signs[:na]))
            i = 0
            L_reg = None
            while not np.isfinite(AA):   # L too ill-conditioned: regularize its diagonal
                if L_reg is None:
                    L_reg = L[:na, :na].copy()
                L_reg.flat[::na + 1] += (2 ** i) * _EPS
                direction, _ = _POTRS(L_reg, signs[:na], lower=True)
                AA = 1.0 / np.sqrt(max(np.sum(direction * signs[:na]), _EPS))
                i += 1
            direction *= AA
        # correlations of the inactive atoms with the equiangular direction
        a = (G_active[:, :na] @ direction)[order[na:]]
        np.around(a, decimals=decimals, out=a)
        rest = corr[na:]
        gamma = min(_min_pos((C - rest) / (AA - a + _TINY32)),
                    _min_pos((C + rest) / (AA + a + _TINY32)), C / AA)
        z = -c_active[:na] / (direction + _TINY32)
        z_pos = _min_pos(z)
        flipped = z_pos < gamma
        if flipped:  # a coefficient crosses zero: flip its sign for the next step
            signs[np.flatnonzero(z == z_pos)] *= -1
        n_iter += 1
        c_active[:na] += gamma * direction
        rest -= gamma * a
    coef[order[:n_active]] = c_active[:n_active]
    return coef


def lar_gram(G, XD, n_nonzero_coefs, n_features, dtype):
    """LAR codes of every signal (scikit-learn's ``algorithm='lars'``).

    Parameters
    ----------
    G : ndarray of shape (n_components, n_components)
        ``D @ D.T``.
    XD : ndarray of shape (n_samples, n_components)
        ``X @ D.T``, one signal's correlations per row.
    n_nonzero_coefs : int
        LAR steps per signal (at most this many non-zero coefficients).
    n_features : int
        The signals' length (the early stop compares the correlation per feature).
    dtype : numpy dtype
        Of the codes; float32 also rounds the direction's correlations to
        float32's precision, as scikit-learn does.

    Returns
    -------
    ndarray of shape (n_samples, n_components)
    """
    G64 = np.asarray(G, dtype=np.float64)
    XD64 = np.asarray(XD, dtype=np.float64)
    decimals = np.finfo(dtype).precision
    degenerate = _Degenerate()
    code = np.empty(XD64.shape, dtype=dtype)
    for i in range(XD64.shape[0]):
        code[i] = _lar_one(G64, XD64[i], n_nonzero_coefs, n_features, decimals, degenerate)
    degenerate.warn()
    return code


def _lasso_path_one(G, q, alpha, positive, max_steps):
    """The lasso solution of one signal by its LARS homotopy (exact up to rounding).

    Follows the piecewise-linear path of the solution from ``c = 0`` (where
    the largest correlation is ``C = max|q|``) down to ``C = alpha``: on
    each piece the active coefficients move along ``G[A, A]^{-1} s`` (``s``
    their signs) while every active correlation shrinks at unit rate; a
    piece ends when an inactive atom's correlation reaches ``+-C`` (it
    joins), an active coefficient reaches zero (it leaves: the lasso
    variant), or ``C`` reaches ``alpha``. ``G[A, A]^{-1}`` is kept up to
    date by block updates (a join's Schur complement also tells an atom that
    depends on the active ones, which is refused). At the end the
    coefficients are solved once more on the final support and signs,
    which removes the rounding gathered along the path.
    ``G`` float64 (k, k), ``q`` float64 (k,). Returns the coefficients (k,).
    """
    k = q.shape[0]
    coef = np.zeros(k)
    corr = q.copy()                      # q - G @ coef
    refused = np.zeros(k, dtype=bool)    # dependent on the active atoms when they came
    active, signs = [], []
    inv = np.empty((0, 0))               # G[A, A]^{-1}
    C = 0.0
    left, left_sign = -1, 0.0            # the atom that just left sits at C * left_sign
    for _ in range(max_steps):
        if not active:                   # start (or restart) at the largest correlation
            score = np.where(refused, -np.inf, corr if positive else np.abs(corr))
            j = int(np.argmax(score))
            C = float(score[j])
            if C <= alpha or G[j, j] <= 0:
                break
            active, signs = [j], [1.0 if positive else float(np.sign(corr[j]))]
            inv = np.array([[1.0 / G[j, j]]])
        idx = np.array(active)
        d = inv @ np.array(signs)
        a = G[:, idx] @ d                # rate at which each correlation moves
        with np.errstate(divide="ignore", invalid="ignore"):
            up = (C - corr) / (1.0 - a)              # reaches +C
            up = np.where(up > 0, up, np.inf)
            if left >= 0 and left_sign > 0:
                up[left] = np.inf
            join = up
            if not positive:
                down = (C + corr) / (1.0 + a)        # reaches -C
                down = np.where(down > 0, down, np.inf)
                if left >= 0 and left_sign < 0:
                    down[left] = np.inf
                join = np.minimum(up, down)
            leave = -coef[idx] / d
        join[idx] = np.inf
        join[refused] = np.inf
        leave = np.where(leave > 0, leave, np.inf)
        gamma, event = C - alpha, "end"
        j_join, p_leave = int(np.argmin(join)), int(np.argmin(leave))
        if join[j_join] < gamma:
            gamma, event = float(join[j_join]), "join"
        if leave[p_leave] < gamma:
            gamma, event = float(leave[p_leave]), "leave"
        coef[idx] += gamma * d
        corr -= gamma * a
        C -= gamma
        left = -1
        if event == "end":
            break
        if event == "leave":
            left, left_sign = int(idx[p_leave]), signs[p_leave]
            coef[left] = 0.0
            del active[p_leave], signs[p_leave]
            keep = np.arange(len(idx)) != p_leave
            col = inv[keep, p_leave]
            inv = inv[np.ix_(keep, keep)] - np.outer(col, col) / inv[p_leave, p_leave]
            continue
        b = G[idx, j_join]
        u = inv @ b
        schur = G[j_join, j_join] - b @ u
        if schur <= 1e-10 * G[j_join, j_join]:
            refused[j_join] = True       # (numerically) a combination of the active atoms
            continue
        n = len(idx)
        grown = np.empty((n + 1, n + 1))
        grown[:n, :n] = inv + np.outer(u, u) / schur
        grown[:n, n] = grown[n, :n] = -u / schur
        grown[n, n] = 1.0 / schur
        inv = grown
        active.append(j_join)
        signs.append(1.0 if positive else float(np.sign(corr[j_join])))
    if active and C <= alpha * (1 + 1e-12) + 1e-300:
        # the exact solution on the final support, kept when its signs agree
        idx = np.array(active)
        s = np.array(signs)
        try:
            exact = np.linalg.solve(G[np.ix_(idx, idx)], q[idx] - alpha * s)
        except np.linalg.LinAlgError:
            exact = None
        if exact is not None and np.all(exact * s > 0):
            coef[idx] = exact
    return coef


def lasso_lars_gram(G, XD, rows, alpha, positive, max_steps=1000):
    """Exact lasso codes of the signals ``rows`` by their LARS homotopy.

    Parameters
    ----------
    G : ndarray of shape (n_components, n_components)
        ``D @ D.T``.
    XD : ndarray of shape (n_samples, n_components)
        ``X @ D.T``.
    rows : ndarray of int
        The signals to solve.
    alpha : float
        The lasso penalty (the objective ``0.5 ||x - c D||^2 + alpha ||c||_1``).
    positive : bool
        Non-negative coefficients.
    max_steps : int, default=1000
        Pieces of the path followed at most per signal.

    Returns
    -------
    ndarray of shape (len(rows), n_components), float64
    """
    G64 = np.asarray(G, dtype=np.float64)
    out = np.zeros((len(rows), G64.shape[0]))
    for i, r in enumerate(rows):
        out[i] = _lasso_path_one(G64, np.asarray(XD[r], dtype=np.float64), alpha, positive,
                                 max_steps)
    return out
