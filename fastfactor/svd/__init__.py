"""Truncated SVD: rank by count or by the fraction of energy kept.

One randomized algorithm (:mod:`._sketch`) runs on every operand: M in
memory, dense or sparse (:mod:`._operands`), or a Dask array's row blocks
(:mod:`._dask`); the arithmetic of its tall pieces is :mod:`._side`.
:func:`randomized_svd` (:mod:`._randomized`) and :class:`TruncatedSVD`
(:mod:`._truncated`) are the entry points; :mod:`._energy` picks ranks by
energy and :mod:`._params` checks the shared parameters.
"""
from ._energy import MAX_GRAM_SIDE, energy_rank  # noqa: F401 (the limit its errors name)
from ._randomized import randomized_svd
from ._truncated import TruncatedSVD

__all__ = ["randomized_svd", "TruncatedSVD", "energy_rank"]
