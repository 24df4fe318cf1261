"""Which scikit-learn names are replaced, where, and what the calls did."""
import importlib
import logging
import os
import threading
from collections import Counter

#: scikit-learn versions the patch is made for (tested with the one the test
#: extras install); older ones are refused, newer ones are patched with a warning.
SUPPORTED_SKLEARN = ((1, 6), (1, 9))

_DECOMPOSITION = ("sklearn.decomposition",)
#: name -> the modules it is replaced in: the public one(s), then the defining one
LOCATIONS = {
    "NMF": _DECOMPOSITION + ("sklearn.decomposition._nmf",),
    "MiniBatchNMF": _DECOMPOSITION + ("sklearn.decomposition._nmf",),
    "non_negative_factorization": _DECOMPOSITION + ("sklearn.decomposition._nmf",),
    "GaussianMixture": ("sklearn.mixture", "sklearn.mixture._gaussian_mixture"),
    "DictionaryLearning": _DECOMPOSITION + ("sklearn.decomposition._dict_learning",),
    "MiniBatchDictionaryLearning": _DECOMPOSITION + ("sklearn.decomposition._dict_learning",),
    "SparseCoder": _DECOMPOSITION + ("sklearn.decomposition._dict_learning",),
    "sparse_encode": _DECOMPOSITION + ("sklearn.decomposition._dict_learning",),
    "dict_learning": _DECOMPOSITION + ("sklearn.decomposition._dict_learning",),
    "dict_learning_online": _DECOMPOSITION + ("sklearn.decomposition._dict_learning",),
    "TruncatedSVD": _DECOMPOSITION + ("sklearn.decomposition._truncated_svd",),
    "randomized_svd": ("sklearn.utils.extmath",),
}
PATCHED_NAMES = tuple(LOCATIONS)

log = logging.getLogger("fastfactor.patch")
lock = threading.Lock()
originals = {}  # name -> scikit-learn's object, while patched
_stats = Counter()  # (name, 'fastfactor' | 'sklearn') -> calls


def _verbose():
    return os.environ.get("FASTFACTOR_VERBOSE", "").strip() not in ("", "0")


def record(name, side, reason=None):
    """Count one call of ``name`` run by ``side``; log a fallback with its reason."""
    with lock:
        _stats[(name, side)] += 1
    if side == "sklearn":
        log.info("%s: scikit-learn's code runs this call (%s)", name, reason)
        if _verbose():
            print(f"[fastfactor.patch] {name}: fallback to scikit-learn ({reason})", flush=True)


def patch_stats():
    """How many calls each side ran since the last reset.

    Returns
    -------
    dict
        ``{name: {'fastfactor': n, 'sklearn': m}}`` for every name called
        (``'sklearn'`` counts fallbacks).
    """
    with lock:
        out = {}
        for (name, side), count in _stats.items():
            out.setdefault(name, {"fastfactor": 0, "sklearn": 0})[side] = count
        return out


def reset_patch_stats():
    """Forget the counts :func:`patch_stats` reports."""
    with lock:
        _stats.clear()


def is_patched(name):
    """True while ``name`` is replaced by fastfactor's."""
    return name in originals


def original(name):
    """scikit-learn's own object for ``name`` (whether or not it is patched)."""
    found = originals.get(name)
    if found is not None:
        return found
    return getattr(importlib.import_module(LOCATIONS[name][-1]), name)
