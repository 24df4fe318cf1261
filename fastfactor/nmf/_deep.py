"""Deep (multi-layer) NMF: X ~ W_L H_L ... H_2 H_1 with every factor non-negative.

With samples as rows (scikit-learn's convention), layer 1 factors X ~ W_1 H_1
with k_1 components, layer 2 factors the codes W_1 ~ W_2 H_2 with k_2 < k_1
components, and so on: the deepest codes W_L (n_samples, k_L) are what
``transform`` returns and ``H_L ... H_1`` is the effective dictionary. (With
samples as columns this is the usual ``X ~ Z_1 Z_2 ... Z_L H_L`` of deep
NMF, Trigeorgis et al. 2014, transposed.)

Fitting has two phases:

1. layer-wise pretraining: one :class:`fastfactor.NMF` per layer, each on
   the codes of the layer before;
2. joint fine-tuning of all factors on ``0.5 ||X - W_L H_L ... H_1||_F^2``:
   block coordinate descent over the factors, each updated with the others
   fixed, by HALS sweeps where the sub-problem is an ordinary non-negative
   least-squares problem (the codes W_L and the first dictionary H_1) and by
   multiplicative updates for the middle factors (``A H B`` problems). Every
   update does not increase the loss, so fine-tuning never ends worse than
   pretraining.
"""
import warnings

import numpy as np

from .. import kernels
from .._base import BaseEstimator, TransformerMixin
from .._utils.threads import threads_for_size
from .._utils.validation import (
    check_float,
    check_int,
    check_layer_sizes,
    check_option,
)
from ..exceptions import ConvergenceWarning
from ._data import NMFData
from ._estimator import NMFEstimatorMixin
from ._losses import frobenius_loss, gram64
from ._nmf import NMF

__all__ = ["DeepNMF"]


def _chain(factors, k_left):
    """Product ``factors[-1] @ ... @ factors[0]`` (identity of size k_left when empty)."""
    if not factors:
        return None
    out = factors[-1]
    for F in reversed(factors[:-1]):
        out = out @ F
    return out


def _nnls_exact(XCt, CCt):
    """Exact per-row NNLS in Gram form (Lawson-Hanson on a k x k problem), or None.

    With ``CCt = R^T R`` (Cholesky), ``0.5 w.CCt.w - w.b`` equals
    ``0.5 ||R w - z||^2`` up to a constant, where ``R^T z = b``: each row is
    a k x k NNLS problem, whatever the number of features. Returns None when
    CCt is singular (the caller then uses the iterative solver).
    """
    import scipy.linalg
    from scipy.optimize import nnls

    G = CCt.astype(np.float64)
    try:
        R = np.linalg.cholesky(G).T
    except np.linalg.LinAlgError:
        return None
    if not np.isfinite(R).all() or np.min(np.abs(np.diag(R))) <= 1e-12 * np.max(np.abs(R)):
        return None
    Z = scipy.linalg.solve_triangular(R, XCt.astype(np.float64).T, trans="T").T
    W = np.empty_like(Z)
    for i in range(Z.shape[0]):  # k x k problems: microseconds each
        W[i] = nnls(R, Z[i], maxiter=50 * R.shape[1])[0]
    return W


def _nnls_fista(W, XCt, CCt, max_iter, tol=1e-16):
    """Minimise 0.5 w.CCt.w - w.XCt_i over w >= 0 for every row, all rows at once.

    Accelerated projected gradient (FISTA with gradient restart): its rate
    depends on the square root of CCt's condition number, where coordinate
    sweeps depend on the condition number itself, which matters for the
    ill-conditioned chained dictionaries of deep NMF. One iteration is one
    (n_rows x k) @ (k x k) product.
    """
    G = CCt.astype(np.float64)
    B = XCt.astype(np.float64)
    lipschitz = float(np.linalg.eigvalsh(G)[-1]) if G.size else 0.0
    if lipschitz <= 0:
        return W
    x = W.astype(np.float64)
    y, t = x.copy(), 1.0
    for _ in range(max_iter):
        grad = y @ G - B
        x_new = np.maximum(y - grad / lipschitz, 0.0)
        step = x_new - x
        if float(np.vdot(step, step)) <= tol * max(float(np.vdot(x_new, x_new)), 1e-300):
            x = x_new
            break
        if float(np.vdot(grad, step)) > 0:  # restart when momentum points uphill
            t = 1.0
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        y = x_new + ((t - 1.0) / t_new) * step
        x, t = x_new, t_new
    return x.astype(W.dtype)


class DeepNMF(NMFEstimatorMixin, TransformerMixin, BaseEstimator):
    """Multi-layer NMF: X ~ W_L H_L ... H_1, all factors non-negative.

    Parameters
    ----------
    layer_sizes : sequence of int, strictly decreasing
        Components of each layer, from the first (closest to the data) to
        the deepest, e.g. ``[64, 16, 4]``.
    init : {'random', 'nndsvd', 'nndsvda', 'nndsvdar'} or None, default=None
        Initialisation of each pretraining NMF (as in :class:`fastfactor.NMF`).
    solver : {'cd', 'mu'}, default='cd'
        Solver of the pretraining NMFs.
    pretrain_max_iter : int, default=200
        Iterations of each pretraining NMF.
    max_iter : int, default=100
        Fine-tuning iterations (0 keeps the pretrained factors).
    tol : float, default=1e-4
        Pretraining tolerance; fine-tuning stops when an iteration lowers
        the loss by less than ``tol`` times the pretrained loss.
    transform_max_iter : int, default=1000
        Maximum accelerated projected-gradient iterations of the
        non-negative least-squares solve in ``transform`` (after a warm
        start); the chained dictionary is often ill-conditioned.
    random_state : int, RandomState, Generator or None
    verbose : int, default=0
    n_threads : int or None, default=None
        Threads of the pretraining NMFs and the fine-tuning kernels (None
        follows OpenMP).
    n_jobs : int or None, default=None
        Alias of n_threads (scikit-learn's name).

    Attributes
    ----------
    layer_components_ : list of ndarray
        ``[H_1 (k_1, n_features), H_2 (k_2, k_1), ..., H_L (k_L, k_{L-1})]``.
    components_ : ndarray of shape (k_L, n_features)
        The effective dictionary ``H_L @ ... @ H_1``.
    n_components_ : int
        ``k_L``.
    pretrain_reconstruction_err_ : float
        ``||X - W_L H_L ... H_1||_F`` after pretraining.
    reconstruction_err_ : float
        The same after fine-tuning (never larger).
    loss_history_ : list of float
        ``0.5 ||X - W_L H_L ... H_1||_F^2``: after pretraining, then after
        each fine-tuning iteration.
    n_iter_ : int
        Fine-tuning iterations run.
    n_features_in_ : int
    """

    _components_note = " (its deepest layer)"

    def __init__(self, layer_sizes=(16, 4), *, init=None, solver="cd", pretrain_max_iter=200,
                 max_iter=100, tol=1e-4, transform_max_iter=1000, random_state=None,
                 verbose=0, n_threads=None, n_jobs=None):
        self._store_init_arguments(locals())

    def _check_params(self, X):
        sizes = check_layer_sizes(self.layer_sizes, X.shape, name="layer_sizes")
        check_option(self.solver, "solver", ("cd", "mu"))
        check_int(self.pretrain_max_iter, "pretrain_max_iter", min_value=1)
        check_int(self.max_iter, "max_iter", min_value=0)
        check_int(self.transform_max_iter, "transform_max_iter", min_value=1)
        check_float(self.tol, "tol", min_value=0.0)
        return sizes

    # -- fitting --------------------------------------------------------------
    def _pretrain(self, X, sizes):
        codes, layers = X, []
        # small layers run on one thread (see MIN_PARALLEL_SIZE)
        n_threads = threads_for_size(X.shape[0] * X.shape[1], self._thread_setting())
        for depth, k in enumerate(sizes):
            model = NMF(k, init=self.init, solver=self.solver, max_iter=self.pretrain_max_iter,
                        tol=self.tol, random_state=self.random_state, n_threads=n_threads)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                codes = model.fit_transform(codes)
            codes = np.ascontiguousarray(codes, dtype=X.dtype)
            layers.append(np.ascontiguousarray(model.components_, dtype=X.dtype))
            if self.verbose:
                print(f"pretrained layer {depth + 1}: {k} components, "
                      f"error {model.reconstruction_err_:.6g}")
        return codes, layers

    @staticmethod
    def _loss(data, W, C, XCt=None):
        """0.5 ||X - W C||^2 from Gram matrices (no m x n product)."""
        if XCt is None:
            XCt = data.dot(np.ascontiguousarray(C.T))
        return frobenius_loss(data.sq_norm, XCt, W, gram64(W), gram64(C.T))

    def _fine_tune_step(self, data, W, layers, n_threads):
        L = len(layers)
        small = lambda a: threads_for_size(a.size, n_threads)  # noqa: E731
        # codes W_L: NNLS against the whole chain C = H_L ... H_1
        C = _chain(layers, None)
        XCt = data.dot(np.ascontiguousarray(C.T))
        kernels.hals_update(W, XCt, C @ C.T, max_inner=5, inner_tol=0.01, n_threads=small(W))
        # H_l with A = W H_L ... H_{l+1} on the left and B = H_{l-1} ... H_1 on the right
        for l in reversed(range(L)):
            A = W
            for F in reversed(layers[l + 1:]):
                A = A @ F
            A = np.ascontiguousarray(A)
            XtA = data.tdot(A)                          # (n_features, k_l)
            AtA = A.T @ A
            if l == 0:
                Ht = np.ascontiguousarray(layers[0].T)
                kernels.hals_update(Ht, XtA, AtA, max_inner=5, inner_tol=0.01,
                                    n_threads=small(Ht))
                layers[0] = np.ascontiguousarray(Ht.T)
            else:
                B = _chain(layers[:l], None)            # (k_{l-1}, n_features)
                numerator = (B @ XtA).T                 # A^T X B^T
                denominator = AtA @ layers[l] @ (B @ B.T)
                kernels.mu_update(layers[l], numerator, denominator, n_threads=small(layers[l]))
        C = _chain(layers, None)
        return self._loss(data, W, C)

    def fit_transform(self, X, y=None):
        """Pretrain layer by layer, fine-tune jointly, return the deepest codes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Non-negative data.
        y : Ignored

        Returns
        -------
        W : ndarray of shape (n_samples, layer_sizes[-1])
        """
        X = self._validate_X(X, reset=True)
        sizes = self._check_params(X)
        n_threads = self._effective_n_threads()
        W, layers = self._pretrain(X, sizes)
        data = NMFData(X, n_threads)
        losses = [self._loss(data, W, _chain(layers, None))]
        pretrained = (W.copy(), [F.copy() for F in layers])
        n_iter = 0
        for n_iter in range(1, int(self.max_iter) + 1):
            losses.append(self._fine_tune_step(data, W, layers, n_threads))
            if self.verbose:
                print(f"fine-tuning iteration {n_iter}: loss {losses[-1]:.6g}")
            if losses[-2] - losses[-1] <= float(self.tol) * losses[-1]:
                break
        if losses[-1] > losses[0]:  # rounding only: keep the pretrained factors
            W, layers = pretrained
            losses.append(losses[0])
        self.layer_components_ = layers
        self.components_ = _chain(layers, None)
        self.n_components_ = sizes[-1]
        self.pretrain_reconstruction_err_ = float(np.sqrt(2 * losses[0]))
        self.reconstruction_err_ = float(np.sqrt(2 * losses[-1]))
        self.loss_history_ = losses
        self.n_iter_ = n_iter
        return W

    def _transform(self, X):
        """Deepest codes of a validated X: non-negative least squares against ``components_``."""
        C = np.ascontiguousarray(self.components_, dtype=X.dtype)
        n_threads = self._effective_n_threads()
        XCt = NMFData(X, n_threads).dot(np.ascontiguousarray(C.T))
        CCt = C @ C.T
        # warm start: the unconstrained least-squares codes, clipped at zero
        # (exact wherever they are already non-negative), then HALS sweeps on
        # each row with the products computed once
        try:
            W = np.linalg.lstsq(CCt.astype(np.float64), XCt.T.astype(np.float64),
                                rcond=None)[0].T
        except np.linalg.LinAlgError:  # pragma: no cover - lstsq rarely fails
            W = np.zeros(XCt.shape)
        W = np.ascontiguousarray(np.maximum(W, 0), dtype=X.dtype)
        kernels.hals_update(W, XCt, CCt, max_inner=50, inner_tol=0.0, n_threads=n_threads)
        exact = _nnls_exact(XCt, CCt)
        if exact is not None:
            return exact.astype(X.dtype)
        return _nnls_fista(W, XCt, CCt, int(self.transform_max_iter))
