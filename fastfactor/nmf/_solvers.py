"""The NMF solvers and the pieces every NMF path shares.

The plain solvers (:func:`fit_hals`, :func:`fit_multiplicative`) live here,
with what the masked solvers (:mod:`._masked`), :class:`MiniBatchNMF`,
:class:`DeepNMF` and the Dask fit (:mod:`._dask`) take from them:

* the accelerated-HALS sweep budget (:func:`inner_sweep_budget`);
* the multiplicative update's exponent and zero floors (:func:`mu_gamma`,
  :func:`mu_zero_floors`) and its beta-divergence terms;
* the L1/L2 penalties: their checks (:func:`check_penalties`), their
  scaling by the data's shape (:func:`scaled_penalties`) and their folding
  into the HALS inputs (:func:`regularized`, :func:`with_l1`, :func:`with_l2`);
* the stopping rules, scikit-learn's: :func:`hals_converged` (violation
  relative to the first iteration's) and :func:`mu_converged` (relative
  decrease of the error, tested every ``MU_TEST_EVERY`` iterations);
* :func:`run_solver`, which runs an estimator's choice of solver.

The losses are in :mod:`._losses`.
"""
import time
import warnings

import numpy as np

from .. import kernels
from ..checkpoint import encode_rng_state, require_values, restore_rng
from ..exceptions import ConvergenceWarning
from .._utils.validation import check_float, check_random_state
from ._data import EPSILON
from ._losses import beta_divergence, frobenius_loss

__all__ = ["INNER_ALPHA", "HALS_INNER_TOL", "MU_TEST_EVERY", "inner_sweep_budget",
           "hals_sweep_budgets", "check_penalties", "scaled_penalties", "with_l1", "with_l2",
           "regularized", "gram", "hals_converged", "mu_test_due", "mu_converged",
           "warn_if_max_iter", "mu_gamma", "mu_zero_floors", "kl_H_denominator", "mu_W_terms",
           "mu_H_terms", "fit_hals", "fit_multiplicative", "run_solver"]

_FLOAT64_EPS = np.finfo(np.float64).eps

# Accelerated HALS: inner sweeps allowed per outer iteration are
# 1 + INNER_ALPHA * (1 + cost of the products / cost of one sweep), and a row
# stops once a sweep moves it by less than _INNER_DELTA of the first sweep
# (Gillis & Glineur 2012 use alpha=0.5, delta=0.1).
INNER_ALPHA = 0.5
_INNER_DELTA = 0.1
HALS_INNER_TOL = _INNER_DELTA ** 2  # the kernels compare squared norms
_MAX_INNER_CAP = 100
# The costs are compared in time, not in flops: a coordinate sweep is a chain
# of dependent scalar updates and runs about this many times slower per flop
# than the products' GEMMs. Counting flops alone allowed 64 sweeps on
# nmf-dense, 7.6x the time of the products; this factor (the best of 1, 5,
# 10, 20 and 40 on nmf-dense's time to scikit-learn's 100-iteration loss)
# allows 7, and reaches that loss sooner in all although it needs more
# iterations. An outer iteration also has a fixed cost (Python, thread
# wake-ups) worth about _ITERATION_FLOPS of GEMM, which on small problems
# outweighs the products.
_SWEEP_FLOP_COST = 10
_ITERATION_FLOPS = 1e6

MU_TEST_EVERY = 10  # iterations between two tests of the multiplicative updates' loss


# ------------------------------------------------------------ sweep budget

def inner_sweep_budget(n_rows, k, product_cost, *, sweep_flop_cost, iteration_flops):
    """Accelerated-HALS sweeps per outer iteration for a factor of ``n_rows`` rows of length k.

    ``product_cost`` is the flops of the products the sweeps reuse; a sweep
    costs ``sweep_flop_cost * n_rows * k * k`` and an iteration has a fixed
    cost worth ``iteration_flops``.
    """
    sweep_cost = max(sweep_flop_cost * n_rows * k * k, 1)
    rho = 1.0 + (product_cost + iteration_flops) / sweep_cost
    return int(min(_MAX_INNER_CAP, 1 + INNER_ALPHA * rho))


def hals_sweep_budgets(shape, k, nnz, max_inner_iter):
    """``(inner_W, inner_H)`` for HALS on X of ``shape`` with ``nnz`` stored entries."""
    if max_inner_iter != "auto":
        return max_inner_iter, max_inner_iter
    m, n = shape
    costs = dict(sweep_flop_cost=_SWEEP_FLOP_COST, iteration_flops=_ITERATION_FLOPS)
    return (inner_sweep_budget(m, k, 2 * nnz * k + n * k * k, **costs),
            inner_sweep_budget(n, k, 2 * nnz * k + m * k * k, **costs))


# ---------------------------------------------------------- regularization

def check_penalties(alpha_W, alpha_H, l1_ratio):
    """Check the estimators' ``alpha_W``, ``alpha_H`` (a float or 'same') and ``l1_ratio``."""
    check_float(alpha_W, "alpha_W", min_value=0.0)
    if not (isinstance(alpha_H, str) and alpha_H == "same"):
        check_float(alpha_H, "alpha_H", min_value=0.0)
    check_float(l1_ratio, "l1_ratio", min_value=0.0, max_value=1.0)


def scaled_penalties(alpha_W, alpha_H, l1_ratio, shape):
    """``(l1_W, l1_H, l2_W, l2_H)``: the penalties scaled as scikit-learn scales them.

    ``alpha_H='same'`` takes alpha_W; W's penalties grow with n_features and
    H's with n_samples, so they keep their weight against the loss.
    """
    n_samples, n_features = shape
    alpha_W = float(alpha_W)
    alpha_H = alpha_W if isinstance(alpha_H, str) else float(alpha_H)
    l1 = float(l1_ratio)
    return (n_features * alpha_W * l1, n_samples * alpha_H * l1,
            n_features * alpha_W * (1 - l1), n_samples * alpha_H * (1 - l1))


def with_l1(product, l1_reg):
    """``X H^T - l1``: the HALS product with the L1 penalty folded in (a copy when it applies)."""
    return product - l1_reg if l1_reg else product


def with_l2(gram_matrix, l2_reg):
    """``H H^T + l2 I``: the HALS Gram matrix with the L2 penalty (a copy when it applies)."""
    if l2_reg:
        gram_matrix = gram_matrix.copy()
        gram_matrix.flat[:: gram_matrix.shape[0] + 1] += l2_reg
    return gram_matrix


def regularized(product, gram_matrix, l1_reg, l2_reg):
    """Both HALS inputs with the penalties folded in."""
    return with_l1(product, l1_reg), with_l2(gram_matrix, l2_reg)


def gram(F, n_threads):
    """F.T @ F on the OpenMP threads (a fit keeps BLAS itself on one thread)."""
    return kernels.dense_matmul(F, F, trans_a=True, n_threads=n_threads)


# ---------------------------------------------------------- stopping rules
#
# ``progress`` is the dict a fit keeps its stopping state in (and hands to
# checkpoints): ``losses`` and, for HALS, ``violation_init``; for the
# multiplicative updates, ``error_at_init`` and ``previous_error``.

def hals_converged(progress, n_iter, violation, tol, verbose, loss=None):
    """HALS stopping rule: ``violation / violation of iteration 1 <= tol``.

    Records ``loss`` (when given) and the first violation in ``progress``.
    """
    if loss is not None:
        progress["losses"].append(loss)
    if n_iter == 1 or progress["violation_init"] is None:
        progress["violation_init"] = violation
    violation_init = progress["violation_init"]
    if violation_init == 0:
        return True
    if verbose:
        losses = progress["losses"]
        print(f"iteration {n_iter:4d}  violation: {violation / violation_init:.3e}"
              + (f"  loss: {losses[-1]:.6e}" if losses else ""))
    if violation / violation_init <= tol:
        if verbose:
            print("Converged at iteration", n_iter)
        return True
    return False


def mu_test_due(n_iter, tol):
    """True on the iterations where the multiplicative updates test their loss."""
    return tol > 0 and n_iter % MU_TEST_EVERY == 0


def mu_converged(progress, n_iter, loss, tol, verbose, *, started=None,
                 exact_start_converges=False):
    """Multiplicative-update stopping rule, on an iteration where :func:`mu_test_due`.

    Stops when the error ``sqrt(2 * loss)`` fell by less than ``tol`` times
    the initial error since the previous test. Records ``loss`` in
    ``progress``. A fit whose initial error is 0 never stops by this rule
    (0 / 0, as in scikit-learn) unless ``exact_start_converges``.
    """
    progress["losses"].append(loss)
    error = np.sqrt(2 * loss)
    if verbose:
        took = ("" if started is None
                else f" reached after {time.perf_counter() - started:.3f} seconds,")
        print(f"Epoch {n_iter:02d}{took} error: {error:f}")
    error_at_init = progress["error_at_init"]
    if exact_start_converges and error_at_init == 0:
        return True
    if (progress["previous_error"] - error) / error_at_init < tol:
        return True
    progress["previous_error"] = float(error)
    return False


def warn_if_max_iter(n_iter, max_iter, tol):
    """The ConvergenceWarning of a fit that used all its iterations."""
    if n_iter == max_iter and tol > 0:
        warnings.warn(f"Maximum number of iterations {max_iter} reached. Increase "
                      "it to improve convergence.", ConvergenceWarning)


# ------------------------------------------------------ multiplicative terms

def mu_gamma(beta):
    """Exponent of the majorization-minimization update (Fevotte & Idier 2011)."""
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta > 2:
        return 1.0 / (beta - 1.0)
    return 1.0


def mu_zero_floors(beta):
    """``(zero_W, zero_H)``: entries below these are set to 0 after an update.

    scikit-learn's safeguard: a factor the update would only shrink
    towards zero (beta < 1 for W, beta <= 1 for H) is cut at float64 eps.
    """
    return (_FLOAT64_EPS if beta < 1 else 0.0), (_FLOAT64_EPS if beta <= 1 else 0.0)


def _beta_products(data, W, Ht, beta, for_H):
    """kernels.mu_beta_products over X; a sparse X goes densified tile by tile."""
    if not data.sparse:
        return kernels.mu_beta_products(data.X, W, Ht, beta, for_H=for_H,
                                        n_threads=data.n_threads)
    shape = Ht.shape if for_H else W.shape
    numerator = np.zeros(shape, dtype=W.dtype)
    denominator = np.zeros(shape, dtype=W.dtype) if beta != 1 else None
    for rows, X_tile in data.row_tiles():
        num, den = kernels.mu_beta_products(X_tile, W[rows], Ht, beta, for_H=for_H,
                                            n_threads=data.n_threads)
        parts = (numerator, num), (denominator, den)
        for total, part in parts[: 1 if den is None else 2]:
            if for_H:
                total += part  # H's terms sum over all rows of X
            else:
                total[rows] = part
    return numerator, denominator


def _kl_ratio_values(data, W, Ht):
    """X / WH at the stored entries of a sparse X (the KL numerator terms)."""
    return data.X.data / np.maximum(data.sampled_dot(W, Ht), EPSILON)


def kl_H_denominator(W_sum):
    """The KL update's H denominator from W's column sums (fixed in place)."""
    W_sum[W_sum == 0] = 1.0  # as scikit-learn: a dead component keeps its H row
    return W_sum.reshape(1, -1)


def mu_W_terms(data, W, Ht, beta):
    """Numerator and denominator of the W update for beta != 2."""
    if data.sparse and beta == 1:
        numerator = kernels.csr_matmul(data.with_values(_kl_ratio_values(data, W, Ht)), Ht,
                                       n_threads=data.n_threads)
        return numerator, Ht.sum(axis=0).reshape(1, -1)
    numerator, denominator = _beta_products(data, W, Ht, beta, for_H=False)
    if denominator is None:
        denominator = Ht.sum(axis=0).reshape(1, -1)
    return numerator, denominator


def mu_H_terms(data, W, Ht, beta):
    """Numerator and denominator of the (transposed) H update for beta != 2."""
    W_sum = kl_H_denominator(W.sum(axis=0))
    if data.sparse and beta == 1:
        return data.tdot_values(_kl_ratio_values(data, W, Ht), W), W_sum
    numerator, denominator = _beta_products(data, W, Ht, beta, for_H=True)
    if denominator is None:
        denominator = W_sum
    return numerator, denominator


# ------------------------------------------------------------------ solvers

def fit_hals(data, W, Ht, *, tol, max_iter, l1_reg_W, l1_reg_H, l2_reg_W, l2_reg_H,
             update_H, verbose, shuffle, random_state, max_inner_iter, n_threads,
             callback=None, resume=None):
    """HALS / coordinate descent; W (m, k) and Ht (n, k) are updated in place.

    Returns the number of iterations and the loss after each one (Frobenius,
    0.5 * squared, computed from Gram matrices at no extra product).

    ``callback(state)``, if given, is called after every iteration that does
    not end the fit with the complete solver state (a dict); passing such a
    state back as ``resume`` (with its W and Ht) continues the fit exactly
    where it stopped.
    """
    m, n = data.shape
    k = W.shape[1]
    rng = check_random_state(random_state)
    first_iter, progress = 1, dict(losses=[], violation_init=None)
    if resume is not None:
        require_values(resume, ("n_iter", "violation_init", "losses", "rng_state"), "NMF cd")
        rng = restore_rng(resume["rng_state"])
        first_iter = int(resume["n_iter"]) + 1
        progress = dict(losses=list(resume["losses"]), violation_init=resume["violation_init"])
    nnz = data.X.nnz if data.sparse else m * n
    inner_W, inner_H = hals_sweep_budgets(data.shape, k, nnz, max_inner_iter)
    HHt = gram(Ht, n_threads)
    XHt = data.dot(Ht)
    XHt_reg, HHt_reg = regularized(XHt, HHt, l1_reg_W, l2_reg_W)
    n_iter = first_iter - 1
    for n_iter in range(first_iter, max_iter + 1):
        if update_H and n_iter > first_iter:
            XHt = data.dot(Ht)
            XHt_reg, HHt_reg = regularized(XHt, HHt, l1_reg_W, l2_reg_W)
        perm = rng.permutation(k) if shuffle else None
        violation = kernels.hals_update(W, XHt_reg, HHt_reg, perm, inner_W, HALS_INNER_TOL,
                                        n_threads=n_threads)
        loss = None
        if update_H:
            XtW = data.tdot(W)
            WtW = gram(W, n_threads)
            XtW_reg, WtW_reg = regularized(XtW, WtW, l1_reg_H, l2_reg_H)
            perm = rng.permutation(k) if shuffle else None
            violation += kernels.hals_update(Ht, XtW_reg, WtW_reg, perm, inner_H,
                                             HALS_INNER_TOL, n_threads=n_threads)
            HHt = gram(Ht, n_threads)
            loss = frobenius_loss(data.sq_norm, XtW, Ht, WtW, HHt)
        if hals_converged(progress, n_iter, violation, tol, verbose, loss):
            break
        if callback is not None:
            callback(dict(n_iter=n_iter, W=W, Ht=Ht, losses=progress["losses"],
                          violation_init=progress["violation_init"],
                          rng_state=encode_rng_state(rng)))
    return n_iter, progress["losses"]


def _frobenius_terms(F, product, gram_matrix, n_threads):
    """Numerator and denominator of F's update for the Frobenius loss: ``product``, ``F @ gram``.

    For W: ``X H^T`` and ``H H^T``; for Ht: ``X^T W`` and ``W^T W``.
    """
    return product, kernels.dense_matmul(F, gram_matrix, n_threads=n_threads)


def fit_multiplicative(data, W, Ht, *, beta, tol, max_iter, l1_reg_W, l1_reg_H, l2_reg_W,
                       l2_reg_H, update_H, verbose, n_threads, callback=None, resume=None):
    """Multiplicative updates; W (m, k) and Ht (n, k) are updated in place.

    Convergence is tested every 10 iterations on the relative decrease of
    the loss, as scikit-learn does. Returns the number of iterations and
    the losses seen at those tests. ``callback`` and ``resume`` work as in
    :func:`fit_hals`.
    """
    gamma = mu_gamma(beta)
    zero_W, zero_H = mu_zero_floors(beta)
    start = time.perf_counter()
    if resume is None:
        first_iter = 1
        error_at_init = np.sqrt(2 * beta_divergence(data, W, Ht, beta))
        progress = dict(losses=[], error_at_init=error_at_init, previous_error=error_at_init)
    else:
        require_values(resume, ("n_iter", "losses", "error_at_init", "previous_error"),
                       "NMF mu")
        first_iter = int(resume["n_iter"]) + 1
        progress = dict(losses=list(resume["losses"]), error_at_init=resume["error_at_init"],
                        previous_error=resume["previous_error"])
    HHt = XHt = None  # kept while H does not change (transform)
    n_iter = first_iter - 1
    for n_iter in range(first_iter, max_iter + 1):
        if beta != 2:
            terms = mu_W_terms(data, W, Ht, beta)
        else:
            if HHt is None:
                HHt = gram(Ht, n_threads)
            if XHt is None:
                XHt = data.dot(Ht)
            terms = _frobenius_terms(W, XHt, HHt, n_threads)
        kernels.mu_update(W, *terms, l1_reg_W, l2_reg_W, gamma, zero_W, n_threads=n_threads)
        if update_H:
            if beta != 2:
                terms = mu_H_terms(data, W, Ht, beta)
            else:
                WtW, XtW = gram(W, n_threads), data.tdot(W)
                terms = _frobenius_terms(Ht, XtW, WtW, n_threads)
            kernels.mu_update(Ht, *terms, l1_reg_H, l2_reg_H, gamma, zero_H, n_threads=n_threads)
            HHt = XHt = None  # H changed
        if mu_test_due(n_iter, tol):
            if beta == 2 and update_H:
                HHt = gram(Ht, n_threads)
                loss = frobenius_loss(data.sq_norm, XtW, Ht, WtW, HHt)
            else:
                loss = beta_divergence(data, W, Ht, beta)
            if mu_converged(progress, n_iter, loss, tol, verbose, started=start):
                break
        if callback is not None:
            callback(dict(n_iter=n_iter, W=W, Ht=Ht, losses=progress["losses"],
                          error_at_init=float(progress["error_at_init"]),
                          previous_error=float(progress["previous_error"])))
    if verbose and (tol == 0 or n_iter % MU_TEST_EVERY):
        print(f"Epoch {n_iter:02d} reached after {time.perf_counter() - start:.3f} seconds.")
    return n_iter, progress["losses"]


def run_solver(est, hals, multiplicative, data, W, Ht, *, beta, update_H, n_threads, **extra):
    """Fit W and Ht in place with the solver and settings of the estimator ``est``.

    ``hals`` and ``multiplicative`` are the solver functions for
    ``est.solver == 'cd'`` and ``'mu'`` (the plain or the masked ones);
    ``extra`` goes to both. Warns when the fit used all its iterations.
    Returns the number of iterations and the losses.
    """
    l1_W, l1_H, l2_W, l2_H = est._regularization(data)
    settings = dict(tol=float(est.tol), max_iter=int(est.max_iter), l1_reg_W=l1_W,
                    l1_reg_H=l1_H, l2_reg_W=l2_W, l2_reg_H=l2_H, update_H=update_H,
                    verbose=est.verbose, n_threads=n_threads, **extra)
    if est.solver == "cd":
        n_iter, losses = hals(data, W, Ht, shuffle=est.shuffle, random_state=est.random_state,
                              max_inner_iter=est.max_inner_iter, **settings)
    else:
        n_iter, losses = multiplicative(data, W, Ht, beta=beta, **settings)
    warn_if_max_iter(n_iter, est.max_iter, est.tol)
    return n_iter, losses
