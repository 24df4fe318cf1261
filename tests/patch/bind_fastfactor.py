"""pytest plugin: bind fastfactor's own objects to scikit-learn's names, with no patch layer.

Measures drop-in fidelity without any fallback possible::

    PYTHONPATH=tests/patch python -m pytest -p bind_fastfactor \
        --pyargs sklearn.decomposition.tests.test_nmf

Names fastfactor does not have keep scikit-learn's object (and are reported).
"""
import importlib

import fastfactor
from fastfactor import sparse_coding
from fastfactor.patch import _registry


def pytest_configure(config):
    missing = []
    for name, modules in _registry.LOCATIONS.items():
        obj = getattr(fastfactor, name, None) or getattr(sparse_coding, name, None)
        if obj is None:
            missing.append(name)
            continue
        for module in modules:
            setattr(importlib.import_module(module), name, obj)
    if missing:
        print(f"bind_fastfactor: fastfactor has no {', '.join(missing)}; scikit-learn's kept")
