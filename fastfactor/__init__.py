"""fastfactor: fast matrix factorization and latent-variable models.

Estimators follow scikit-learn's API; :mod:`fastfactor.kernels` is the
low-level backend API and :mod:`fastfactor.reference` its numpy twin.
"""
import os as _os

# The solvers alternate BLAS products (OpenBLAS's own threads) with OpenMP
# kernels. OpenMP's default is to spin after a parallel region, which takes
# the cores the next BLAS call needs (measured on 2 cores: NMF iterations
# 1.2-2x slower with two kernel threads than with one). Idle kernel threads
# sleep instead, unless the user chose a policy. This must happen before the
# OpenMP runtime is loaded, i.e. before the compiled modules are imported.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from ._version import __version__
from .exceptions import ConvergenceWarning, NotFittedError
from .mixture import GaussianMixture
from .nmf import (
    NMF,
    DeepNMF,
    MiniBatchNMF,
    masked_non_negative_factorization,
    non_negative_factorization,
)
from .patch import patch_sklearn, patched_sklearn, unpatch_sklearn
from .persistence import load, save
from .sparse_coding import (
    DictionaryLearning,
    MiniBatchDictionaryLearning,
    SparseAutoencoder,
    SparseCoder,
    dict_learning,
    dict_learning_online,
    sparse_encode,
)
from .svd import TruncatedSVD, randomized_svd


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
    "patch_sklearn",
    "unpatch_sklearn",
    "patched_sklearn",
    "sparse_encode",
    "dict_learning",
    "dict_learning_online",
    "masked_non_negative_factorization",
    "MiniBatchNMF",
    "DeepNMF",
    "__version__",
]
