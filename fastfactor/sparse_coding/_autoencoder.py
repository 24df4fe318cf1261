"""A sparse autoencoder: learned soft-threshold encoder, linear decoder, trained by Adam."""
import numpy as np

from .. import kernels
from .._base import BaseEstimator
from .._utils.validation import check_float, check_int, check_random_state
from ._coder import _SparseTransformer
from ._encode import thread_count
from ._params import check_flags, checked_n_components


class _Adam:
    """Adam (Kingma & Ba, 2015) over a list of arrays, updated in place."""

    def __init__(self, params, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8):
        self.params = params
        self.lr, self.beta1, self.beta2, self.eps = learning_rate, beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        lr = self.lr * np.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            p -= (lr * m / (np.sqrt(v) + self.eps)).astype(p.dtype, copy=False)


class SparseAutoencoder(_SparseTransformer, BaseEstimator):
    """Sparse autoencoder: learned soft-threshold encoder, linear decoder.

    ``code = soft_threshold((X - b_dec) @ W_enc.T + b_enc, threshold)`` with a
    learned threshold per component (non-negative soft-threshold with
    ``positive_code=True``), ``X_hat = code @ components_ + b_dec``. Trained
    by mini-batch Adam on::

        mean((X - X_hat) ** 2) + alpha * mean_over_samples(||code||_1)

    with the decoder's atoms (rows of ``components_``) kept at norm <= 1, so
    that the penalty cannot be dodged by scaling. The products are BLAS
    GEMMs; the soft-threshold and its backward pass are the compiled
    kernels :func:`fastfactor.kernels.soft_threshold` and
    :func:`~fastfactor.kernels.soft_threshold_grad`. float32 data trains in
    float32.

    Parameters
    ----------
    n_components : int, optional
        Code size; default n_features.
    alpha : float, default=0.1
        Weight of the L1 penalty on the codes.
    learning_rate : float, default=1e-3
        Adam's step size.
    batch_size : int, default=256
    max_iter : int, default=200
        Epochs (passes over the data).
    tol : float, default=1e-4
        An epoch improves when its mean loss drops by more than ``tol``
        times the best loss so far.
    n_iter_no_change : int, default=10
        Stop after this many epochs without improvement.
    shuffle : bool, default=True
        Shuffle the samples every epoch.
    positive_code : bool, default=False
        Non-negative codes.
    n_jobs, n_threads : int, optional
        Threads of the soft-threshold kernels, under either name (see
        :func:`sparse_encode`).
    random_state : int, RandomState or None
    verbose : bool, default=False

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Decoder atoms.
    encoder_weights_ : ndarray of shape (n_components, n_features)
    encoder_bias_ : ndarray of shape (n_components,)
    threshold_ : ndarray of shape (n_components,)
    decoder_bias_ : ndarray of shape (n_features,)
    loss_curve_ : list of float
        Mean loss of each epoch.
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    """

    def __init__(self, n_components=None, *, alpha=0.1, learning_rate=1e-3, batch_size=256,
                 max_iter=200, tol=1e-4, n_iter_no_change=10, shuffle=True,
                 positive_code=False, n_jobs=None, n_threads=None, random_state=None,
                 verbose=False):
        self._store_init_arguments(locals())

    def _check_params(self, X):
        n_components = checked_n_components(self, X)
        check_float(self.alpha, "alpha", min_value=0.0)
        check_float(self.learning_rate, "learning_rate", min_value=0.0, min_inclusive=False)
        check_int(self.batch_size, "batch_size", min_value=1)
        check_int(self.max_iter, "max_iter", min_value=1)
        check_float(self.tol, "tol", min_value=0.0)
        check_int(self.n_iter_no_change, "n_iter_no_change", min_value=1)
        check_flags(self, ("shuffle", "positive_code"))
        return n_components

    def _init_params(self, X, n_components, rng):
        dtype = X.dtype
        n_features = X.shape[1]
        W = rng.normal(size=(n_components, n_features))
        W /= np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-12)
        self.components_ = np.array(W, dtype=dtype, order="C")
        self.encoder_weights_ = self.components_.copy()
        self.encoder_bias_ = np.zeros(n_components, dtype=dtype)
        self.threshold_ = np.zeros(n_components, dtype=dtype)
        self.decoder_bias_ = X.mean(axis=0).astype(dtype)

    def _encode(self, X, n_threads):
        """Forward pass of the encoder: returns (X - decoder_bias_, Z, code)."""
        Xc = X - self.decoder_bias_
        Z = Xc @ self.encoder_weights_.T
        Z += self.encoder_bias_
        code = kernels.soft_threshold(Z, self.threshold_, positive=self.positive_code,
                                      n_threads=n_threads)
        return Xc, Z, code

    def _step(self, Xb, adam, n_threads):
        """One Adam step on a mini-batch; returns the batch loss."""
        B, d = Xb.shape
        alpha = float(self.alpha)
        Xc, Z, code = self._encode(Xb, n_threads)
        E = code @ self.components_
        E += self.decoder_bias_
        E -= Xb
        loss = (float(np.einsum("ij,ij->", E, E, dtype=np.float64)) / (B * d)
                + alpha * float(np.abs(code).sum(dtype=np.float64)) / B)
        # backward
        dXhat = E * (2.0 / (B * d))
        g_dec = code.T @ dXhat
        dcode = dXhat @ self.components_.T
        dcode += (alpha / B) * np.sign(code)
        dZ, g_thr = kernels.soft_threshold_grad(Z, dcode, self.threshold_,
                                                positive=self.positive_code,
                                                n_threads=n_threads)
        g_enc = dZ.T @ Xc
        g_benc = dZ.sum(axis=0)
        g_bdec = dXhat.sum(axis=0) - dZ.sum(axis=0) @ self.encoder_weights_
        adam.step([g_dec, g_enc, g_benc, g_thr.astype(Z.dtype), g_bdec])
        np.maximum(self.threshold_, 0, out=self.threshold_)
        norms = np.linalg.norm(self.components_, axis=1)
        self.components_ /= np.maximum(norms, 1)[:, None]
        return loss

    def _fit_validated(self, X):
        """Train the autoencoder on a validated X."""
        n_components = self._check_params(X)
        rng = check_random_state(self.random_state)
        n_threads = thread_count(self.n_threads, self.n_jobs)
        self._init_params(X, n_components, rng)
        params = [self.components_, self.encoder_weights_, self.encoder_bias_,
                  self.threshold_, self.decoder_bias_]
        adam = _Adam(params, float(self.learning_rate))
        n = X.shape[0]
        bs = min(int(self.batch_size), n)
        best, stall = np.inf, 0
        self.loss_curve_ = []
        epoch = 0
        for epoch in range(1, int(self.max_iter) + 1):
            order = rng.permutation(n) if self.shuffle else None
            total = 0.0
            for start in range(0, n, bs):
                Xb = X[order[start:start + bs]] if order is not None else X[start:start + bs]
                total += self._step(Xb, adam, n_threads) * Xb.shape[0]
            loss = total / n
            self.loss_curve_.append(loss)
            if self.verbose:
                print(f"Epoch {epoch}: loss {loss:.6g}")
            improved = not np.isfinite(best) or loss < best - self.tol * abs(best)
            stall = 0 if improved else stall + 1
            best = min(best, loss)
            if stall >= self.n_iter_no_change:
                break
        self.n_iter_ = epoch

    @property
    def _code_dtype(self):
        return self.components_.dtype

    def _code(self, X):
        X = X.astype(self.components_.dtype, copy=False)
        return self._encode(X, thread_count(self.n_threads, self.n_jobs))[2]

    def _decode(self, code):
        return code @ self.components_ + self.decoder_bias_
