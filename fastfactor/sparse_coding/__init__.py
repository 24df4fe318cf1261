"""L1 sparse coding: encoders, dictionary learning and a sparse autoencoder.

``_encode``: :func:`sparse_encode` and the per-algorithm solvers (``_lars``:
least angle regression); ``_coder``: the transform shared by every coder, and
:class:`SparseCoder`; ``_dict_learning``: the batch and mini-batch dictionary
learners and the atom update; ``_functions``: their function forms
:func:`dict_learning` and :func:`dict_learning_online`; ``_autoencoder``:
:class:`SparseAutoencoder` and its optimizer; ``_validation``: the family's
input and parameter checks.
"""
from ._autoencoder import SparseAutoencoder
from ._coder import SparseCoder
from ._dict_learning import DictionaryLearning, MiniBatchDictionaryLearning
from ._encode import sparse_encode
from ._functions import dict_learning, dict_learning_online

__all__ = ["sparse_encode", "SparseCoder", "DictionaryLearning",
           "MiniBatchDictionaryLearning", "SparseAutoencoder", "dict_learning",
           "dict_learning_online"]
