"""Non-negative matrix factorization: X ~ W H with W, H >= 0.

``NMF`` and ``non_negative_factorization`` (dense or sparse input, every
beta-loss, missing entries), ``MiniBatchNMF`` (online), ``DeepNMF``
(multi-layer), ``masked_non_negative_factorization``, and ``initialize_nmf``
(the initial factors every NMF fit starts from: random, NNDSVD and variants).
"""
from ._deep import DeepNMF
from ._init import initialize_nmf
from ._minibatch import MiniBatchNMF
from ._nmf import NMF, masked_non_negative_factorization, non_negative_factorization

__all__ = ["NMF", "non_negative_factorization", "MiniBatchNMF", "DeepNMF",
           "masked_non_negative_factorization", "initialize_nmf"]
