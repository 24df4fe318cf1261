"""Non-negative matrix factorization: X ~ W H with W, H >= 0.

``NMF`` and ``non_negative_factorization`` (dense or sparse input, every
beta-loss, missing entries), ``MiniBatchNMF`` (online), ``DeepNMF``
(multi-layer) and ``masked_non_negative_factorization``.
"""
from ._deep import DeepNMF
from ._minibatch import MiniBatchNMF
from ._nmf import NMF, masked_non_negative_factorization, non_negative_factorization

__all__ = ["NMF", "non_negative_factorization", "MiniBatchNMF", "DeepNMF",
           "masked_non_negative_factorization"]
