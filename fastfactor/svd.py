"""Truncated SVD: randomized range finder (Halko, Martinsson & Tropp 2011)."""
import numpy as np
import scipy.linalg
import scipy.sparse as sp

from ._validation import check_array, check_int, check_option, check_random_state

__all__ = ["randomized_svd"]


def _range_finder(M, size, n_iter, normalizer, rng):
    """Orthonormal basis (n_samples, size) approximating the range of M."""
    Q = rng.normal(size=(M.shape[1], size))
    if M.dtype.kind == "f":
        Q = Q.astype(M.dtype, copy=False)
    for _ in range(n_iter):
        if normalizer == "none":
            Q = M @ Q
            Q = M.T @ Q
        elif normalizer == "LU":
            Q, _ = scipy.linalg.lu(M @ Q, permute_l=True)
            Q, _ = scipy.linalg.lu(M.T @ Q, permute_l=True)
        else:
            Q, _ = scipy.linalg.qr(M @ Q, mode="economic")
            Q, _ = scipy.linalg.qr(M.T @ Q, mode="economic")
    Q, _ = scipy.linalg.qr(M @ Q, mode="economic")
    return Q


def _flip_signs(U, Vt):
    # make the largest-magnitude entry of each right singular vector positive
    signs = np.sign(Vt[np.arange(Vt.shape[0]), np.argmax(np.abs(Vt), axis=1)])
    signs[signs == 0] = 1
    return U * signs, Vt * signs[:, None]


def randomized_svd(M, n_components, *, n_oversamples=10, n_iter="auto",
                   power_iteration_normalizer="auto", transpose="auto", flip_sign=True,
                   random_state=None):
    """Truncated SVD by a randomized range finder.

    Parameters
    ----------
    M : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Matrix to decompose.
    n_components : int
        Number of singular triplets to return.
    n_oversamples : int, default=10
        Extra random vectors for a better range estimate.
    n_iter : int or 'auto', default='auto'
        Power iterations: 7 when ``n_components < 0.1 * min(M.shape)``, else 4.
    power_iteration_normalizer : {'auto', 'QR', 'LU', 'none'}, default='auto'
        Re-orthonormalisation between power iterations ('auto': 'LU' when
        ``n_iter > 2`` else 'none').
    transpose : bool or 'auto', default='auto'
        Work on ``M.T`` (faster when M is wide); 'auto' does so when
        ``n_samples < n_features``.
    flip_sign : bool, default=True
        Make the result deterministic in sign.
    random_state : int, RandomState, Generator or None

    Returns
    -------
    U : ndarray of shape (n_samples, n_components)
    S : ndarray of shape (n_components,)
    Vt : ndarray of shape (n_components, n_features)
    """
    M = check_array(M, name="M", accept_sparse=True, whom="randomized_svd")
    n_components = check_int(n_components, "n_components", min_value=1,
                             max_value=min(M.shape))
    n_oversamples = check_int(n_oversamples, "n_oversamples", min_value=0)
    if n_iter == "auto":
        n_iter = 7 if n_components < 0.1 * min(M.shape) else 4
    n_iter = check_int(n_iter, "n_iter", min_value=0)
    check_option(power_iteration_normalizer, "power_iteration_normalizer",
                 ("auto", "QR", "LU", "none"))
    if power_iteration_normalizer == "auto":
        power_iteration_normalizer = "none" if n_iter <= 2 else "LU"
    rng = check_random_state(random_state)
    if transpose == "auto":
        transpose = M.shape[0] < M.shape[1]
    if transpose:
        M = M.T
    size = min(n_components + n_oversamples, min(M.shape))
    Q = _range_finder(M, size, n_iter, power_iteration_normalizer, rng)
    B = np.asarray((M.T @ Q).T) if sp.issparse(M) else Q.T @ M
    Uhat, S, Vt = scipy.linalg.svd(B, full_matrices=False)
    U = Q @ Uhat
    if transpose:
        U, Vt = Vt.T, U.T
    if flip_sign:
        U, Vt = _flip_signs(U, Vt)
    return U[:, :n_components], S[:n_components], Vt[:n_components]
