"""Run code written against scikit-learn on fastfactor, unchanged.

``patch_sklearn()`` puts fastfactor's estimators and functions in the places
scikit-learn code imports them from (``sklearn.decomposition``,
``sklearn.mixture``, ``sklearn.utils.extmath`` and the private modules that
define them), so that ``from sklearn.decomposition import NMF`` after
patching gets the fast class. ``unpatch_sklearn()`` puts every original
back; ``patched_sklearn()`` does both around a block; ``python -m
fastfactor.patch app.py`` runs a whole program patched.

The patched classes are subclasses of scikit-learn's own (``isinstance``,
``get_params``, ``clone``, pickling, pipelines, ``set_output``, tags and
metadata routing behave as scikit-learn's), with scikit-learn's parameters
and fitted attributes. Each call runs fastfactor's code; where fastfactor
does not handle a parameter value, an input or a subclass's overridden
step, the call runs scikit-learn's original code instead: a *fallback*,
logged on the ``fastfactor.patch`` logger (printed with the reason when the
environment variable ``FASTFACTOR_VERBOSE=1`` is set) and counted in
:func:`patch_stats`. A fallback is never a new failure: scikit-learn's own
code decides what happens, errors included.

Importing this module does not import scikit-learn; patching does, and needs
scikit-learn within ``SUPPORTED_SKLEARN``.
"""
import importlib
from contextlib import contextmanager

from . import _registry
from ._registry import PATCHED_NAMES, SUPPORTED_SKLEARN, is_patched, patch_stats, reset_patch_stats

__all__ = ["patch_sklearn", "unpatch_sklearn", "patched_sklearn", "is_patched", "patch_stats",
           "reset_patch_stats", "PATCHED_NAMES", "SUPPORTED_SKLEARN"]


def _check_sklearn():
    try:
        import sklearn
    except ImportError as exc:
        raise ImportError("fastfactor.patch_sklearn needs scikit-learn installed (fastfactor "
                          "itself does not): pip install scikit-learn") from exc
    version = tuple(int(p) for p in sklearn.__version__.split(".")[:2] if p.isdigit())
    low, high = _registry.SUPPORTED_SKLEARN
    if version < low:
        raise ImportError(f"fastfactor.patch_sklearn supports scikit-learn "
                          f"{low[0]}.{low[1]} to {high[0]}.{high[1]}; found {sklearn.__version__}")
    if version > high:
        import warnings

        warnings.warn(f"fastfactor.patch_sklearn was made for scikit-learn up to "
                      f"{high[0]}.{high[1]}; found {sklearn.__version__}. Patching anyway: "
                      "anything fastfactor does not handle still runs scikit-learn's code.",
                      RuntimeWarning, stacklevel=3)


def _resolve(names):
    if names is None:
        return list(_registry.PATCHED_NAMES)
    if isinstance(names, str):
        names = [names]
    names = list(names)
    unknown = [n for n in names if n not in _registry.LOCATIONS]
    if unknown:
        raise ValueError(f"names must be among {list(_registry.PATCHED_NAMES)}; got {unknown}")
    return names


def patch_sklearn(names=None):
    """Replace scikit-learn's estimators and functions by fastfactor's.

    Parameters
    ----------
    names : str or iterable of str, optional
        What to replace (default: every name in ``PATCHED_NAMES``). Patching
        a name twice does nothing.

    Raises
    ------
    ImportError
        scikit-learn is missing or older than ``_registry.SUPPORTED_SKLEARN``.
    """
    names = _resolve(names)
    _check_sklearn()
    from . import _estimators  # imports scikit-learn

    with _registry.lock:
        for name in names:
            if name in _registry.originals:
                continue
            locations = _registry.LOCATIONS[name]
            defining = importlib.import_module(locations[-1])
            _registry.originals[name] = getattr(defining, name)
            replacement = getattr(_estimators, name)
            for module_name in locations:
                setattr(importlib.import_module(module_name), name, replacement)


def unpatch_sklearn(names=None):
    """Put scikit-learn's original objects back.

    Parameters
    ----------
    names : str or iterable of str, optional
        What to restore (default: everything patched).
    """
    names = _resolve(names)
    with _registry.lock:
        for name in names:
            original = _registry.originals.pop(name, None)
            if original is None:
                continue
            for module_name in _registry.LOCATIONS[name]:
                setattr(importlib.import_module(module_name), name, original)


@contextmanager
def patched_sklearn(names=None):
    """Patch scikit-learn for the duration of a ``with`` block.

    Parameters
    ----------
    names : iterable of str, optional
        The names to patch (default: all of ``PATCHED_NAMES``).

    Examples
    --------
    >>> from fastfactor.patch import patched_sklearn
    >>> with patched_sklearn():
    ...     from sklearn.decomposition import NMF   # fastfactor's
    """
    was_patched = {name for name in PATCHED_NAMES if is_patched(name)}
    patch_sklearn(names)
    try:
        yield
    finally:
        unpatch_sklearn([n for n in (names or PATCHED_NAMES) if n not in was_patched])
