"""Dictionary learning: the batch and the online (mini-batch) learners.

Both alternate sparse coding of the samples (the compiled lasso kernels of
:mod:`._encode`) with a block-coordinate-descent sweep over the atoms
(:func:`_update_dict`, scikit-learn's update).
"""
import numpy as np
import scipy.linalg

from .. import kernels
from .._base import BaseEstimator
from ..checkpoint import (CheckpointError, encode_rng_state, require_values, restore_rng,
                          restored_array)
from .._utils.linalg import flip_signs
from .._utils.minibatch import no_improvement_stop, update_ewa_cost
from .._utils.threads import single_threaded_blas
from .._utils.validation import (
    check_array,
    check_float,
    check_int,
    check_option,
    check_random_state,
    validate_data,
)
from ..svd import randomized_svd
from ._coder import _BaseSparseCoding
from ._encode import _encode, _Unconverged, thread_count
from ._params import check_flags, checked_n_components
from ._validation import check_dictionary, check_positive_coding


def _pad_rows(A, n_rows):
    if A.shape[0] >= n_rows:
        return A[:n_rows]
    return np.concatenate([A, np.zeros((n_rows - A.shape[0], A.shape[1]), dtype=A.dtype)])


def _update_dict(dictionary, Y, code, A, Bt, random_state, positive):
    """Block coordinate descent over the atoms, in place (scikit-learn's _update_dict).

    ``A = code.T @ code`` and ``Bt = code.T @ Y`` (the transpose of
    scikit-learn's B, so that its rows are contiguous).
    """
    n_samples = Y.shape[0]
    for k in range(dictionary.shape[0]):
        if A[k, k] > 1e-6:
            dictionary[k] += (Bt[k] - A[k] @ dictionary) / A[k, k]
        else:
            # the atom is (almost) never used: restart it from a random sample
            newd = Y[random_state.choice(n_samples)]
            noise_level = 0.01 * (newd.std() or 1)
            noise = random_state.normal(0, noise_level, size=len(newd))
            dictionary[k] = newd + noise
            code[:, k] = 0
        if positive:
            np.clip(dictionary[k], 0, None, out=dictionary[k])
        norm = np.sqrt(dictionary[k] @ dictionary[k])
        if norm > 1:
            dictionary[k] /= norm


def _lasso_cost(R, code, alpha):
    """``0.5 * ||R||_F^2 + alpha * ||code||_1``, summed in float64."""
    return (0.5 * float(np.einsum("ij,ij->", R, R, dtype=np.float64))
            + alpha * float(np.abs(code).sum(dtype=np.float64)))


def _optional_float(value):
    return None if value is None else float(value)


def _resumed_step(resume, n_total, unit):
    """The number of ``unit`` a resumed state has done, checked against ``n_total``."""
    done = int(resume["n_iter"])
    if not 0 <= done <= n_total:
        raise CheckpointError(f"the checkpoint is at {unit} {done}, outside this fit's "
                              f"0..{n_total}: it was made with other parameters")
    return done


class _DictionaryLearner(_BaseSparseCoding, BaseEstimator):
    """What the two learners share: parameter checks and checkpointed fits.

    A subclass fits a validated X in ``_fit_validated(X, callback, resume)``.
    """

    def _check_common(self, X):
        """Checks shared by both learners; returns n_components."""
        n_components = checked_n_components(self, X)
        check_float(self.alpha, "alpha", min_value=0.0)
        check_int(self.max_iter, "max_iter", min_value=0)
        check_option(self.fit_algorithm, "fit_algorithm", ("lars", "cd"))
        check_flags(self, ("positive_code", "positive_dict", "split_sign"))
        # scikit-learn refuses fit_algorithm='lars' with positive codes (the
        # fit runs lasso_lars, which could); the transform's own positivity
        # is checked when transform runs, as scikit-learn does
        check_positive_coding(self.fit_algorithm, self.positive_code, name="positive_code")
        self._coding_params(n_components, X.shape[1], positive=False)
        return n_components

    def _checked_dict_init(self, X):
        return check_dictionary(self.dict_init, X.shape[1], X.dtype, whom=type(self).__name__,
                                name="dict_init")

    def _fit_checkpointed(self, X, callback=None, resume=None):
        """``fit`` that reports its state after each step and can resume from it.

        A step is one iteration over X (DictionaryLearning) or one
        mini-batch (MiniBatchDictionaryLearning, whose ``max_iter`` counts
        passes over the data).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        callback : callable, optional
            Called as ``callback(state)`` after every step that does not end
            the fit; ``state`` is a dict of arrays (the dictionary, and the
            codes or the statistics ``A``, ``Bt`` and the sample order of the
            shuffled data) and JSON-friendly values (steps done as
            ``n_iter``, the random generator's state, the losses or the
            smoothed costs of the stopping rule).
        resume : dict, optional
            Such a state: the fit continues exactly where it was taken, to
            the same dictionary (bit for bit) as an uninterrupted fit.

        Returns
        -------
        self

        Notes
        -----
        Used by ``fastfactor fit --checkpoint/--resume`` and by
        :class:`fastfactor.checkpoint.Checkpointer`.
        """
        X = validate_data(self, X, reset=True)
        self._fit_validated(X, callback=callback, resume=resume)
        return self


class DictionaryLearning(_DictionaryLearner):
    """Dictionary learning (batch): drop-in for scikit-learn's.

    Solves ``min 0.5 ||X - U V||_F^2 + alpha ||U||_1`` over codes U and
    atoms V (rows with norm <= 1) by alternating sparse coding of all
    samples (the compiled lasso kernels, warm-started) with a block
    coordinate descent sweep over the atoms.

    Parameters
    ----------
    n_components : int, optional
        Atoms to learn; default n_features.
    alpha : float, default=1
        Sparsity penalty.
    max_iter : int, default=1000
    tol : float, default=1e-8
        Stop when the cost decreases by less than ``tol`` times the cost.
    fit_algorithm : {'lars', 'cd'}, default='lars'
        Lasso solver for the codes (``'lars'`` is solved by coordinate
        descent to a tighter gap, see :func:`sparse_encode`).
    transform_algorithm : {'lasso_lars', 'lasso_cd', 'lars', 'omp', 'threshold', 'fista'}, \
            default='omp'
    transform_n_nonzero_coefs : int, optional
    transform_alpha : float, optional
        Default: ``alpha``.
    n_jobs, n_threads : int, optional
        Threads, under either name (see :func:`sparse_encode`).
    code_init, dict_init : ndarray, optional
        Warm start (used only when both are given).
    callback : callable, optional
        Called every five iterations with the local variables.
    verbose : bool, default=False
    split_sign : bool, default=False
    random_state : int, RandomState or None
    positive_code, positive_dict : bool, default=False
    transform_max_iter : int, default=1000

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    error_ : list of float
        Cost after each iteration.
    n_iter_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    """

    def __init__(self, n_components=None, *, alpha=1, max_iter=1000, tol=1e-8,
                 fit_algorithm="lars", transform_algorithm="omp",
                 transform_n_nonzero_coefs=None, transform_alpha=None, n_jobs=None,
                 n_threads=None, code_init=None, dict_init=None, callback=None, verbose=False,
                 split_sign=False, random_state=None, positive_code=False,
                 positive_dict=False, transform_max_iter=1000):
        self._store_init_arguments(locals())

    def fit_transform(self, X, y=None):
        """Learn the dictionary from X and return the codes of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, one sample per row.
        y : Ignored

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            The codes of the last iteration (``split_sign`` is not applied).
        """
        X = validate_data(self, X, reset=True)
        return self._fit_validated(X)

    def _initial_factors(self, X, n_components):
        """Codes and atoms to start from: the user's, or the SVD of X."""
        if self.code_init is not None and self.dict_init is not None:
            code = check_array(self.code_init, name="code_init", dtype=(X.dtype,),
                               whom="DictionaryLearning")
            dictionary = self._checked_dict_init(X)
        else:
            U, S, Vt = scipy.linalg.svd(X, full_matrices=False)
            U, Vt = flip_signs(U, Vt)
            code, dictionary = U, S[:, None] * Vt
        code = _pad_rows(code.T, n_components).T
        dictionary = np.array(_pad_rows(dictionary, n_components), dtype=X.dtype, order="C")
        return np.array(code, dtype=X.dtype, order="C"), dictionary

    def _fit_validated(self, X, callback=None, resume=None):
        """Alternate coding and atom updates on a validated X; returns the last codes."""
        n_components = self._check_common(X)
        tol = check_float(self.tol, "tol", min_value=0.0)
        alpha = float(self.alpha)
        method = "lasso_" + self.fit_algorithm
        n_threads = thread_count(self.n_threads, self.n_jobs)
        if resume is None:
            random_state = check_random_state(self.random_state)
            code, dictionary = self._initial_factors(X, n_components)
            errors, first = [], 0
        else:
            require_values(resume, ("n_iter", "losses", "rng_state"), type(self).__name__)
            first = _resumed_step(resume, self.max_iter, "iteration")
            code = restored_array(resume, "code", (X.shape[0], n_components), X.dtype)
            dictionary = restored_array(resume, "dictionary", (n_components, X.shape[1]),
                                        X.dtype)
            errors = [float(e) for e in resume["losses"]]
            random_state = restore_rng(resume["rng_state"])

        unconverged = _Unconverged()
        ii = first - 1
        for ii in range(first, self.max_iter):
            code = _encode(X, dictionary, algorithm=method, alpha=alpha,
                           n_nonzero_coefs=None, init=code,
                           max_iter=self.transform_max_iter,
                           positive=self.positive_code, n_threads=n_threads,
                           unconverged=unconverged)
            _update_dict(dictionary, X, code, code.T @ code, code.T @ X, random_state,
                         self.positive_dict)
            R = X - code @ dictionary
            cost = _lasso_cost(R, code, alpha)
            errors.append(cost)
            if self.verbose:
                print(f"Iteration {ii:3d}: cost {cost:.6g}")
            if ii > 0 and errors[-2] - errors[-1] < tol * errors[-1]:
                break
            if ii % 5 == 0 and self.callback is not None:
                self.callback(locals())
            if callback is not None:
                callback(dict(n_iter=ii + 1, dictionary=dictionary, code=code,
                              losses=errors, rng_state=encode_rng_state(random_state)))
        unconverged.warn(type(self).__name__)
        self.components_ = dictionary
        self.error_ = errors
        self.n_iter_ = ii + 1
        return code


class MiniBatchDictionaryLearning(_DictionaryLearner):
    """Online (mini-batch) dictionary learning: drop-in for scikit-learn's.

    Each mini-batch is coded by the compiled lasso kernels, the sufficient
    statistics ``A = sum code.T @ code`` and ``B = sum code.T @ X`` are
    updated with scikit-learn's forgetting factor, and the atoms take one
    block-coordinate-descent sweep (Mairal et al., 2009).

    Parameters
    ----------
    n_components : int, optional
        Atoms to learn; default n_features.
    alpha : float, default=1
    max_iter : int, default=1000
        Passes over the data.
    fit_algorithm : {'lars', 'cd'}, default='lars'
        Lasso solver for the codes (see :func:`sparse_encode`).
    n_jobs, n_threads : int, optional
        Threads, under either name (see :func:`sparse_encode`).
    batch_size : int, default=256
    shuffle : bool, default=True
    dict_init : ndarray of shape (n_components, n_features), optional
    transform_algorithm : {'lasso_lars', 'lasso_cd', 'lars', 'omp', 'threshold', 'fista'}, \
            default='omp'
    transform_n_nonzero_coefs : int, optional
    transform_alpha : float, optional
        Default: ``alpha``.
    verbose : bool, default=False
    split_sign : bool, default=False
    random_state : int, RandomState or None
    positive_code, positive_dict : bool, default=False
    transform_max_iter : int, default=1000
    callback : callable, optional
    tol : float, default=1e-3
        Stop when the dictionary moves by less than this (Frobenius norm
        over n_components) in one step.
    max_no_improvement : int or None, default=10
        Stop after this many steps without improvement of the smoothed cost.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    n_iter_ : int
        Passes over the data.
    n_steps_ : int
        Mini-batches processed.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    """

    def __init__(self, n_components=None, *, alpha=1, max_iter=1000, fit_algorithm="lars",
                 n_jobs=None, n_threads=None, batch_size=256, shuffle=True, dict_init=None,
                 transform_algorithm="omp", transform_n_nonzero_coefs=None,
                 transform_alpha=None, verbose=False, split_sign=False, random_state=None,
                 positive_code=False, positive_dict=False, transform_max_iter=1000,
                 callback=None, tol=1e-3, max_no_improvement=10):
        self._store_init_arguments(locals())

    def _check_params(self, X):
        self._n_components = self._check_common(X)
        self._batch_size = min(check_int(self.batch_size, "batch_size", min_value=1),
                               X.shape[0])
        check_float(self.tol, "tol", min_value=0.0)
        check_int(self.max_no_improvement, "max_no_improvement", min_value=0,
                  allow_none=True)
        check_flags(self, ("shuffle",))

    def _initialize_dict(self, X, random_state):
        if self.dict_init is not None:
            dictionary = self._checked_dict_init(X)
        else:
            rank = min(self._n_components, *X.shape)
            _, S, Vt = randomized_svd(X, rank, random_state=random_state)
            dictionary = S[:, None] * Vt
        return np.array(_pad_rows(dictionary, self._n_components), dtype=X.dtype, order="C")

    def _update_inner_stats(self, X, code, batch_size, step):
        if step < batch_size - 1:
            theta = (step + 1) * batch_size
        else:
            theta = batch_size ** 2 + step + 1 - batch_size
        beta = (theta + 1 - batch_size) / (theta + 1)
        n_threads = thread_count(self.n_threads, self.n_jobs)
        self._A *= beta
        self._A += kernels.dense_matmul(code, code, trans_a=True, n_threads=n_threads) \
            / batch_size
        Bt = self._B.T          # a view: updates _B in place
        Bt *= beta
        Bt += kernels.dense_matmul(code, X, trans_a=True, n_threads=n_threads) / batch_size

    def _minibatch_step(self, X, dictionary, random_state, step, unconverged=None):
        # BLAS stays at one thread for the whole step, the big products being
        # split over the OpenMP threads: see _encode
        with single_threaded_blas():
            return self._minibatch_step_one_pool(X, dictionary, random_state, step,
                                                 unconverged)

    def _minibatch_step_one_pool(self, X, dictionary, random_state, step, unconverged):
        batch_size = X.shape[0]
        alpha = float(self.alpha)
        n_threads = thread_count(self.n_threads, self.n_jobs)
        code = _encode(X, dictionary, algorithm="lasso_" + self.fit_algorithm,
                       alpha=alpha, n_nonzero_coefs=None,
                       max_iter=self.transform_max_iter, positive=self.positive_code,
                       n_threads=n_threads, unconverged=unconverged)
        R = X - kernels.dense_matmul(code, dictionary, n_threads=n_threads)
        batch_cost = _lasso_cost(R, code, alpha) / batch_size
        self._update_inner_stats(X, code, batch_size, step)
        _update_dict(dictionary, X, code, self._A, self._B.T, random_state,
                     self.positive_dict)
        return batch_cost

    def _check_convergence(self, X, batch_cost, new_dict, old_dict, n_samples, step,
                           n_steps):
        batch_size = X.shape[0]
        step = step + 1
        if step <= min(100, n_samples / batch_size):
            if self.verbose:
                print(f"Minibatch step {step}/{n_steps}: mean batch cost: {batch_cost}")
            return False
        update_ewa_cost(self, batch_cost, batch_size, n_samples)
        if self.verbose:
            print(f"Minibatch step {step}/{n_steps}: mean batch cost: {batch_cost}, "
                  f"ewa cost: {self._ewa_cost}")
        dict_diff = np.linalg.norm(new_dict - old_dict) / self._n_components
        if self.tol > 0 and dict_diff <= self.tol:
            if self.verbose:
                print(f"Converged (small dictionary change) at step {step}/{n_steps}")
            return True
        if no_improvement_stop(self):
            if self.verbose:
                print(f"Converged (lack of improvement in objective function) at step "
                      f"{step}/{n_steps}")
            return True
        return False

    def _init_stats(self, n_features, dtype):
        # scikit-learn's running statistics: A = sum code.T @ code and
        # B = sum X.T @ code, (n_features, n_components), both with its
        # forgetting factor; B is kept Fortran-ordered so that B.T, whose rows
        # the atom update reads, is C-contiguous
        k = self._n_components
        self._A = np.zeros((k, k), dtype=dtype)
        self._B = np.zeros((k, n_features), dtype=dtype).T

    def _start_fit(self, X):
        """Fresh fit state; returns the dictionary and the sample order (None: as given)."""
        self._random_state = check_random_state(self.random_state)
        dictionary = self._initialize_dict(X, self._random_state)
        # a permutation draws exactly what shuffling the rows in place draws,
        # and, unlike the shuffled copy, it is small enough to checkpoint
        order = self._random_state.permutation(X.shape[0]) if self.shuffle else None
        self._init_stats(X.shape[1], X.dtype)
        self._ewa_cost = None
        self._ewa_cost_min = None
        self._no_improvement = 0
        return dictionary, order

    def _restore_fit(self, X, resume):
        """The fit state of a checkpoint; returns the dictionary and the sample order."""
        k, (n_samples, n_features) = self._n_components, X.shape
        dictionary = restored_array(resume, "dictionary", (k, n_features), X.dtype)
        self._A = restored_array(resume, "A", (k, k), X.dtype)
        self._B = restored_array(resume, "Bt", (k, n_features), X.dtype).T
        order = None
        if self.shuffle:
            order = restored_array(resume, "order", (n_samples,), np.intp)
            if not np.array_equal(np.sort(order), np.arange(n_samples)):
                raise CheckpointError("the checkpoint's 'order' is not a permutation of "
                                      f"the {n_samples} samples")
        self._random_state = restore_rng(resume["rng_state"])
        self._ewa_cost = _optional_float(resume["ewa_cost"])
        self._ewa_cost_min = _optional_float(resume["ewa_cost_min"])
        self._no_improvement = int(resume["no_improvement"])
        return dictionary, order

    def _step_state(self, n_steps_done, n_steps, dictionary, order, batch_cost):
        """The complete fit state after ``n_steps_done`` mini-batches (for a checkpoint)."""
        state = dict(n_iter=n_steps_done, n_iter_max=n_steps, loss=batch_cost,
                     dictionary=dictionary, A=self._A, Bt=self._B.T,
                     rng_state=encode_rng_state(self._random_state),
                     ewa_cost=self._ewa_cost, ewa_cost_min=self._ewa_cost_min,
                     no_improvement=self._no_improvement)
        if order is not None:
            state["order"] = order
        return state

    def _fit_validated(self, X, callback=None, resume=None):
        """Mini-batch steps over a validated X, from scratch or from ``resume``."""
        self._check_params(X)
        n_samples = X.shape[0]
        bs = self._batch_size
        n_steps_per_iter = int(np.ceil(n_samples / bs))
        n_steps = self.max_iter * n_steps_per_iter
        if resume is None:
            first_step = 0
            dictionary, order = self._start_fit(X)
        else:
            require_values(resume, ("n_iter", "rng_state", "ewa_cost", "ewa_cost_min",
                                    "no_improvement"), type(self).__name__)
            first_step = _resumed_step(resume, n_steps, "mini-batch step")
            dictionary, order = self._restore_fit(X, resume)
        X_train = X if order is None else np.ascontiguousarray(X[order])
        old_dict = dictionary.copy()
        unconverged = _Unconverged()
        i = first_step - 1
        for i in range(first_step, n_steps):
            start = (i % n_steps_per_iter) * bs
            X_batch = X_train[start:start + bs]
            batch_cost = self._minibatch_step(X_batch, dictionary, self._random_state, i,
                                              unconverged)
            if self._check_convergence(X_batch, batch_cost, dictionary, old_dict,
                                       n_samples, i, n_steps):
                break
            if self.callback is not None:
                self.callback(locals())
            if callback is not None:
                callback(self._step_state(i + 1, n_steps, dictionary, order, batch_cost))
            old_dict[:] = dictionary
        unconverged.warn(type(self).__name__)
        self.n_steps_ = i + 1
        self.n_iter_ = int(np.ceil(self.n_steps_ / n_steps_per_iter))
        self.components_ = dictionary

    def partial_fit(self, X, y=None):
        """Update the dictionary with one mini-batch X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The mini-batch; the first call also sets up the fit.
        y : Ignored

        Returns
        -------
        self
        """
        has_components = hasattr(self, "components_")
        X = validate_data(self, X, reset=not has_components)
        if not has_components:
            self._check_params(X)
            self._random_state = check_random_state(self.random_state)
            dictionary = self._initialize_dict(X, self._random_state)
            self.n_steps_ = 0
            self._init_stats(X.shape[1], X.dtype)
        else:
            dictionary = self.components_
            if dictionary.dtype != X.dtype:
                X = X.astype(dictionary.dtype)
        self._minibatch_step(X, dictionary, self._random_state, self.n_steps_)
        self.components_ = dictionary
        self.n_steps_ += 1
        return self
