"""The function forms of the dictionary learners: scikit-learn's ``dict_learning`` and
``dict_learning_online``, each one fit of the corresponding estimator."""
import numpy as np

from ._dict_learning import DictionaryLearning, MiniBatchDictionaryLearning


def _check_method(method, whom):
    if not isinstance(method, str) or method not in ("lars", "cd"):
        raise ValueError(f"The 'method' parameter of {whom} must be a str among "
                         f"{{'lars', 'cd'}}. Got {method!r} instead.")


def _check_bool(value, name, whom):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"The '{name}' parameter of {whom} must be an instance of 'bool'. "
                        f"Got {value!r} instead.")


def dict_learning(X, n_components, *, alpha, max_iter=100, tol=1e-8, method="lars",
                  n_jobs=None, dict_init=None, code_init=None, callback=None, verbose=False,
                  random_state=None, return_n_iter=False, positive_dict=False,
                  positive_code=False, method_max_iter=1000, n_threads=None):
    """Solve a dictionary learning problem: drop-in for scikit-learn's ``dict_learning``.

    Finds the code U and the dictionary V minimizing
    ``0.5 * ||X - U V||_F^2 + alpha * ||U||_1,1`` with atoms (rows of V) of
    norm at most 1, by :class:`DictionaryLearning` (alternating sparse
    coding and block coordinate descent on the atoms).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data; float32 stays float32, other types become float64.
    n_components : int
        Number of atoms; None means n_features.
    alpha : float
        Sparsity penalty.
    max_iter : int, default=100
        Maximum number of iterations.
    tol : float, default=1e-8
        Stop when the cost decreases by less than ``tol`` times the cost.
    method : {'lars', 'cd'}, default='lars'
        Lasso solver of the coding step (``'lars'``: the lasso_lars problem,
        see :func:`sparse_encode`).
    n_jobs, n_threads : int, optional
        Threads, under either name (see :func:`sparse_encode`).
    dict_init : ndarray of shape (n_components, n_features), optional
        Initial dictionary; used only together with ``code_init``.
    code_init : ndarray of shape (n_samples, n_components), optional
        Initial code; used only together with ``dict_init``.
    callback : callable, optional
        Called every five iterations with the local variables.
    verbose : bool, default=False
    random_state : int, RandomState instance or None, default=None
        Seeds the restart of unused atoms.
    return_n_iter : bool, default=False
        Also return the number of iterations run.
    positive_dict, positive_code : bool, default=False
        Non-negative dictionary / code (``positive_code`` not with
        ``method='lars'``, as in scikit-learn).
    method_max_iter : int, default=1000
        Maximum iterations of each lasso solve.

    Returns
    -------
    code : ndarray of shape (n_samples, n_components)
    dictionary : ndarray of shape (n_components, n_features)
    errors : list of float
        The cost after each iteration.
    n_iter : int
        Returned only when ``return_n_iter`` is True.
    """
    whom = "dict_learning"
    _check_method(method, whom)
    _check_bool(return_n_iter, "return_n_iter", whom)
    estimator = DictionaryLearning(
        n_components=n_components, alpha=alpha, max_iter=max_iter, tol=tol,
        fit_algorithm=method, n_jobs=n_jobs, n_threads=n_threads, dict_init=dict_init,
        code_init=code_init, callback=callback, verbose=verbose, random_state=random_state,
        positive_code=positive_code, positive_dict=positive_dict,
        transform_max_iter=method_max_iter)
    code = estimator.fit_transform(X)
    if return_n_iter:
        return code, estimator.components_, estimator.error_, estimator.n_iter_
    return code, estimator.components_, estimator.error_


def dict_learning_online(X, n_components=2, *, alpha=1, max_iter=100, return_code=True,
                         dict_init=None, callback=None, batch_size=256, verbose=False,
                         shuffle=True, n_jobs=None, method="lars", random_state=None,
                         positive_dict=False, positive_code=False, method_max_iter=1000,
                         tol=1e-3, max_no_improvement=10, n_threads=None):
    """Online dictionary learning: drop-in for scikit-learn's ``dict_learning_online``.

    The same problem as :func:`dict_learning`, solved over mini-batches by
    :class:`MiniBatchDictionaryLearning`; the code returned is the
    lasso code of X against the learned dictionary (``'lasso_' + method``
    at ``alpha``).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data; float32 stays float32, other types become float64.
    n_components : int or None, default=2
        Number of atoms; None means n_features.
    alpha : float, default=1
        Sparsity penalty.
    max_iter : int, default=100
        Maximum passes over the data.
    return_code : bool, default=True
        Also return the code of X.
    dict_init : ndarray of shape (n_components, n_features), optional
        Initial dictionary (default: from a randomized SVD of X).
    callback : callable, optional
        Called after each mini-batch with the local variables.
    batch_size : int, default=256
    verbose : bool, default=False
    shuffle : bool, default=True
        Shuffle the samples before cutting them into mini-batches.
    n_jobs, n_threads : int, optional
        Threads, under either name (see :func:`sparse_encode`).
    method : {'lars', 'cd'}, default='lars'
        Lasso solver of the coding steps (see :func:`dict_learning`).
    random_state : int, RandomState instance or None, default=None
    positive_dict, positive_code : bool, default=False
        Non-negative dictionary / code (``positive_code`` not with
        ``method='lars'``, as in scikit-learn).
    method_max_iter : int, default=1000
        Maximum iterations of each lasso solve.
    tol : float, default=1e-3
        Stop when the dictionary moves by less than this in one step
        (0 disables it).
    max_no_improvement : int or None, default=10
        Stop after this many mini-batches without improvement of the
        smoothed cost (None disables it).

    Returns
    -------
    code : ndarray of shape (n_samples, n_components)
        Returned only when ``return_code`` is True.
    dictionary : ndarray of shape (n_components, n_features)
    """
    whom = "dict_learning_online"
    _check_method(method, whom)
    _check_bool(return_code, "return_code", whom)
    estimator = MiniBatchDictionaryLearning(
        n_components=n_components, alpha=alpha, max_iter=max_iter, n_jobs=n_jobs,
        n_threads=n_threads, fit_algorithm=method, batch_size=batch_size, shuffle=shuffle,
        dict_init=dict_init, random_state=random_state, transform_algorithm="lasso_" + method,
        transform_alpha=alpha, positive_code=positive_code, positive_dict=positive_dict,
        transform_max_iter=method_max_iter, verbose=verbose, callback=callback, tol=tol,
        max_no_improvement=max_no_improvement).fit(X)
    if not return_code:
        return estimator.components_
    return estimator.transform(X), estimator.components_
