"""The objects ``patch_sklearn`` puts in scikit-learn's modules.

Each class subclasses scikit-learn's class of the same name (taken before any
patching) and overrides only the public methods fastfactor runs; each method
has scikit-learn's signature. Importing this module imports scikit-learn.
"""
import functools

from .. import mixture, nmf, sparse_coding, svd
from ._proxy import Accelerated, Unsupported, run
from ._registry import original

_SkNMF = original("NMF")
_SkMiniBatchNMF = original("MiniBatchNMF")
_SkGaussianMixture = original("GaussianMixture")
_SkDictionaryLearning = original("DictionaryLearning")
_SkMiniBatchDictionaryLearning = original("MiniBatchDictionaryLearning")
_SkSparseCoder = original("SparseCoder")
_SkTruncatedSVD = original("TruncatedSVD")


class NMF(Accelerated, _SkNMF):
    __doc__ = _SkNMF.__doc__
    _ff_class, _sk_class, _ff_name = nmf.NMF, _SkNMF, "NMF"

    def fit(self, X, y=None, **params):
        return self._ff_fit("fit", X, y, **params)

    def fit_transform(self, X, y=None, W=None, H=None):
        return self._ff_fit("fit_transform", X, y, W=W, H=H)

    def transform(self, X):
        return self._ff_call("transform", X)


class MiniBatchNMF(Accelerated, _SkMiniBatchNMF):
    __doc__ = _SkMiniBatchNMF.__doc__
    _ff_class, _sk_class, _ff_name = nmf.MiniBatchNMF, _SkMiniBatchNMF, "MiniBatchNMF"

    def fit(self, X, y=None, **params):
        return self._ff_fit("fit", X, y, **params)

    def fit_transform(self, X, y=None, W=None, H=None):
        return self._ff_fit("fit_transform", X, y, W=W, H=H)

    def partial_fit(self, X, y=None, W=None, H=None):
        return self._ff_fit("partial_fit", X, y, W=W, H=H, keep_state=True)

    def transform(self, X):
        return self._ff_call("transform", X)


class GaussianMixture(Accelerated, _SkGaussianMixture):
    __doc__ = _SkGaussianMixture.__doc__
    _ff_class, _sk_class, _ff_name = mixture.GaussianMixture, _SkGaussianMixture, "GaussianMixture"

    def fit(self, X, y=None):
        return self._ff_fit("fit", X, y, keep_state=self.warm_start)

    def fit_predict(self, X, y=None):
        return self._ff_fit("fit_predict", X, y, keep_state=self.warm_start)

    def predict(self, X):
        return self._ff_call("predict", X)

    def predict_proba(self, X):
        return self._ff_call("predict_proba", X)

    def score_samples(self, X):
        return self._ff_call("score_samples", X)

    def score(self, X, y=None):
        return self._ff_call("score", X, y)

    def sample(self, n_samples=1):
        return self._ff_call("sample", n_samples)


class DictionaryLearning(Accelerated, _SkDictionaryLearning):
    __doc__ = _SkDictionaryLearning.__doc__
    _ff_class, _sk_class = sparse_coding.DictionaryLearning, _SkDictionaryLearning
    _ff_name = "DictionaryLearning"

    def fit(self, X, y=None):
        return self._ff_fit("fit", X, y)

    def fit_transform(self, X, y=None):
        return self._ff_fit("fit_transform", X, y)

    def transform(self, X):
        return self._ff_call("transform", X)


class MiniBatchDictionaryLearning(Accelerated, _SkMiniBatchDictionaryLearning):
    __doc__ = _SkMiniBatchDictionaryLearning.__doc__
    _ff_class = sparse_coding.MiniBatchDictionaryLearning
    _sk_class, _ff_name = _SkMiniBatchDictionaryLearning, "MiniBatchDictionaryLearning"

    def fit(self, X, y=None):
        return self._ff_fit("fit", X, y)

    def partial_fit(self, X, y=None):
        return self._ff_fit("partial_fit", X, y, keep_state=True)

    def transform(self, X):
        return self._ff_call("transform", X)


class SparseCoder(Accelerated, _SkSparseCoder):
    __doc__ = _SkSparseCoder.__doc__
    _ff_class, _sk_class, _ff_name = sparse_coding.SparseCoder, _SkSparseCoder, "SparseCoder"

    def fit(self, X, y=None):
        return self._ff_fit("fit", X, y)

    def transform(self, X, y=None):
        return self._ff_call("transform", X, stateless=True)


class TruncatedSVD(Accelerated, _SkTruncatedSVD):
    __doc__ = _SkTruncatedSVD.__doc__
    _ff_class, _sk_class, _ff_name = svd.TruncatedSVD, _SkTruncatedSVD, "TruncatedSVD"

    def fit(self, X, y=None):
        return self._ff_fit("fit", X, y)

    def fit_transform(self, X, y=None):
        return self._ff_fit("fit_transform", X, y)


def _patched_function(name, fast_function):
    """scikit-learn's function ``name`` running ``fast_function`` (None: not in fastfactor)."""
    sklearn_function = original(name)

    def fast(args, kwargs):
        if fast_function is None:
            raise Unsupported("fastfactor has no implementation yet")
        return fast_function(*args, **kwargs)

    @functools.wraps(sklearn_function)
    def patched(*args, **kwargs):
        return run(name, lambda: fast(args, kwargs), lambda: sklearn_function(*args, **kwargs))

    patched.__module__ = __name__
    patched.__qualname__ = name
    return patched


non_negative_factorization = _patched_function("non_negative_factorization",
                                               nmf.non_negative_factorization)
sparse_encode = _patched_function("sparse_encode", sparse_coding.sparse_encode)
dict_learning = _patched_function("dict_learning", getattr(sparse_coding, "dict_learning", None))
dict_learning_online = _patched_function("dict_learning_online",
                                         getattr(sparse_coding, "dict_learning_online", None))
randomized_svd = _patched_function("randomized_svd", svd.randomized_svd)
