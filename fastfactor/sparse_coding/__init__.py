"""L1 sparse coding: encoders, dictionary learning and a sparse autoencoder."""
from ._sparse_coding import (
    DictionaryLearning,
    MiniBatchDictionaryLearning,
    SparseAutoencoder,
    SparseCoder,
    sparse_encode,
)

__all__ = ["sparse_encode", "SparseCoder", "DictionaryLearning",
           "MiniBatchDictionaryLearning", "SparseAutoencoder"]
