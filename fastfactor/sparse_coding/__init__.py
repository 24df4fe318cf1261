"""L1 sparse coding: encoders, dictionary learning and a sparse autoencoder.

``_encode``: :func:`sparse_encode` and the per-algorithm solvers;
``_coder``: the transform shared by every coder, and :class:`SparseCoder`;
``_dict_learning``: the batch and mini-batch dictionary learners and the atom
update; ``_autoencoder``: :class:`SparseAutoencoder` and its optimizer.
"""
from ._autoencoder import SparseAutoencoder
from ._coder import SparseCoder
from ._dict_learning import DictionaryLearning, MiniBatchDictionaryLearning
from ._encode import sparse_encode

__all__ = ["sparse_encode", "SparseCoder", "DictionaryLearning",
           "MiniBatchDictionaryLearning", "SparseAutoencoder"]
