"""fastfactor: fast matrix factorization and latent-variable models.

Estimators follow scikit-learn's API; :mod:`fastfactor.kernels` is the
low-level backend API and :mod:`fastfactor.reference` its numpy twin.
"""
from ._base import NotFittedError
from .mixture import GaussianMixture
from .nmf import NMF, non_negative_factorization
from .persistence import load, save
from .sparse import (
    DictionaryLearning,
    MiniBatchDictionaryLearning,
    SparseAutoencoder,
    SparseCoder,
    sparse_encode,
)
from .svd import TruncatedSVD, randomized_svd
from ._nmf_masked_solvers import masked_non_negative_factorization
from .minibatch_nmf import MiniBatchNMF
from .deep_nmf import DeepNMF

__version__ = "0.1.0"

__all__ = [
    "DictionaryLearning",
    "GaussianMixture",
    "MiniBatchDictionaryLearning",
    "NMF",
    "NotFittedError",
    "SparseAutoencoder",
    "SparseCoder",
    "TruncatedSVD",
    "load",
    "non_negative_factorization",
    "randomized_svd",
    "save",
    "sparse_encode",
    "masked_non_negative_factorization",
    "MiniBatchNMF",
    "DeepNMF",
    "__version__",
]
