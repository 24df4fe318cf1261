"""Initial factors for NMF: random and the NNDSVD family (Boutsidis & Gallopoulos 2008)."""
import numpy as np

from ..svd import randomized_svd
from .._utils.threads import single_threaded_blas
from .._utils.validation import check_random_state

INIT_METHODS = ("random", "nndsvd", "nndsvda", "nndsvdar", "custom")


def _mean(X):
    # mean over all m*n entries, implicit zeros of a sparse X included
    return float(X.sum(dtype=np.float64) / (X.shape[0] * X.shape[1]))


def initialize_nmf(X, n_components, init=None, eps=1e-6, random_state=None):
    """Initial non-negative W (m, k) and H (k, n) for X ~ W H.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (m, n), already validated (>= 0).
    n_components : int
    init : {None, 'random', 'nndsvd', 'nndsvda', 'nndsvdar'}
        None picks 'nndsvda' when ``n_components <= min(m, n)``, else 'random'.
    eps : float
        NNDSVD entries below this are set to zero (then filled for -a/-ar).
    random_state : int, RandomState, Generator or None

    Returns
    -------
    W, H : ndarrays in X's dtype
    """
    init = resolve_init(init, n_components, X.shape)
    if init == "random":
        return random_init(X.shape, n_components, _mean(X), X.dtype, random_state)
    # float64 sketch: the same SVD as scikit-learn, so NNDSVD starts agree with it
    # Its big products with X run on the OpenMP threads (as in the fits);
    # multi-threaded BLAS for the small ones in between left BLAS threads
    # spinning against those kernels: 4-8x slower on a busy machine.
    with single_threaded_blas():
        U, S, V = randomized_svd(X, n_components, random_state=random_state,
                                 sketch_dtype="float64")
    W, H = nndsvd_from_svd(U, S, V, init, _mean(X), eps, random_state)
    return W.astype(X.dtype, copy=False), H.astype(X.dtype, copy=False)


def resolve_init(init, n_components, shape):
    """The init method to use ('nndsvda' or 'random' for None), checked against the shape."""
    if init is None:
        init = "nndsvda" if n_components <= min(shape) else "random"
    if init != "random" and n_components > min(shape):
        raise ValueError(
            f"init = {init!r} can only be used when n_components <= min(n_samples, "
            f"n_features): here min(n_samples, n_features) = {min(shape)} and "
            f"n_components={n_components}; use init='random' instead."
        )
    return init


def random_init(shape, n_components, mean, dtype, random_state):
    """|N(0, 1)| * sqrt(mean / k) factors, drawn H first then W (as scikit-learn)."""
    n_samples, n_features = shape
    avg = np.sqrt(mean / n_components)
    rng = check_random_state(random_state)
    H = np.abs(avg * rng.standard_normal(size=(n_components, n_features))).astype(dtype)
    W = np.abs(avg * rng.standard_normal(size=(n_samples, n_components))).astype(dtype)
    return W, H


def nndsvd_from_svd(U, S, V, init, mean, eps=1e-6, random_state=None):
    """NNDSVD factors from a truncated SVD ``U diag(S) V`` of X (whose mean is ``mean``)."""
    n_components = S.shape[0]
    W = np.zeros_like(U)
    H = np.zeros_like(V)
    # the leading singular pair of a non-negative matrix can be taken non-negative
    W[:, 0] = np.sqrt(S[0]) * np.abs(U[:, 0])
    H[0, :] = np.sqrt(S[0]) * np.abs(V[0, :])
    for j in range(1, n_components):
        x, y = U[:, j], V[j, :]
        x_p, y_p = np.maximum(x, 0), np.maximum(y, 0)
        x_n, y_n = np.abs(np.minimum(x, 0)), np.abs(np.minimum(y, 0))
        x_p_nrm, y_p_nrm = np.linalg.norm(x_p), np.linalg.norm(y_p)
        x_n_nrm, y_n_nrm = np.linalg.norm(x_n), np.linalg.norm(y_n)
        m_p, m_n = x_p_nrm * y_p_nrm, x_n_nrm * y_n_nrm
        # keep whichever sign pattern carries more of the singular pair
        if m_p > m_n:
            u, v, sigma = x_p / x_p_nrm, y_p / y_p_nrm, m_p
        elif m_n > 0:
            u, v, sigma = x_n / x_n_nrm, y_n / y_n_nrm, m_n
        else:  # a zero singular pair (rank-deficient X): leave the column at zero
            continue
        lbd = np.sqrt(S[j] * sigma)
        W[:, j] = lbd * u
        H[j, :] = lbd * v
    W[W < eps] = 0
    H[H < eps] = 0
    if init == "nndsvda":
        W[W == 0] = mean
        H[H == 0] = mean
    elif init == "nndsvdar":
        rng = check_random_state(random_state)
        W[W == 0] = np.abs(mean * rng.standard_normal(size=int((W == 0).sum())) / 100)
        H[H == 0] = np.abs(mean * rng.standard_normal(size=int((H == 0).sum())) / 100)
    return W, H
