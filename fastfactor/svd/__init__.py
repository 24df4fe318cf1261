"""Truncated SVD: rank by count or by the fraction of energy kept."""
from ._svd import TruncatedSVD, energy_rank, randomized_svd

__all__ = ["randomized_svd", "TruncatedSVD", "energy_rank"]
