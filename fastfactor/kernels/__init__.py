"""The stable backend API: one documented Python function per compiled kernel.

These are the building blocks the estimators use, exposed for libraries
that want fast factorization steps without the estimator layer. Each
function has a plain-numpy twin of the same name and signature in
:mod:`fastfactor.reference`; ``fastfactor selftest`` and the test-suite
compare every pair.

Conventions
-----------
* Dense arrays are float32 or float64; a kernel computes in the dtype of its
  first floating argument (float32 in, float32 out) and accumulates long
  sums in float64.
* Arrays are made C-contiguous and cast to the common dtype here when they
  are not already (a copy only in that case). Factors updated *in place*
  (``W`` in :func:`hals_update` and :func:`mu_update`) must already be
  C-contiguous arrays of that dtype, otherwise a ``ValueError`` is raised,
  since a silent copy would lose the update.
* Shapes are checked (cheap, O(1)); values are not: NaN, negative entries
  and the like are the caller's business (the estimators check them once
  per fit in :mod:`fastfactor._utils.validation`).
* ``n_threads=None`` follows OpenMP's setting, so
  ``threadpoolctl.threadpool_limits`` and ``OMP_NUM_THREADS`` apply; calls
  too small to profit from threads (under ~1M multiply-adds per thread)
  use fewer. Results are bitwise identical for a given thread count and
  agree to rounding across thread counts.
* Sparse operands are ``scipy.sparse`` CSR matrices (other formats are
  converted); their index arrays are converted to ``intp`` when needed.
"""
# Each family's wrappers live in their own module; this package is their one
# public face. The families' __all__ lists, in this order, make up the API.
from . import _gmm_api, _kmeans_api, _masked_nmf_api, _nmf_api, _products_api
from . import _sparse_coding_api
# the builds in use of two compiled modules, under the names they always had here
from ._dispatch import nmf as _nmf
from ._dispatch import sparse_products as _sparse_products
from ._gmm_api import *  # noqa: F401,F403
from ._gmm_api import COVARIANCE_TYPES
from ._kmeans_api import *  # noqa: F401,F403
from ._masked_nmf_api import *  # noqa: F401,F403
from ._nmf_api import *  # noqa: F401,F403
from ._products_api import *  # noqa: F401,F403
from ._sparse_coding_api import *  # noqa: F401,F403

__all__ = [
    *_nmf_api.__all__,
    *_products_api.__all__,
    *_gmm_api.__all__,
    *_kmeans_api.__all__,
    *_sparse_coding_api.__all__,
    *_masked_nmf_api.__all__,
]
