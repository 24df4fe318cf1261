"""Transitional alias of the former single module (see the package's submodules).

``fastfactor.image`` and ``fastfactor.cli._demo`` still import these names
from here; once they import them from :mod:`fastfactor.sparse_coding`, this
module can go.
"""
from ._autoencoder import SparseAutoencoder
from ._dict_learning import MiniBatchDictionaryLearning
from ._encode import sparse_encode

__all__ = ["sparse_encode", "MiniBatchDictionaryLearning", "SparseAutoencoder"]
