"""Load each compiled kernel module in the best build this CPU can run.

On x86-64 the kernel modules exist twice: the baseline build (any x86-64
CPU) and ``<name>_avx2``, compiled for AVX2 and FMA. The choice is made
once, at import, from the CPU's features; the environment variable
``FASTFACTOR_SIMD`` overrides it:

* ``auto`` (default): the AVX2 build when the CPU supports it;
* ``baseline``: always the baseline build (to compare, or to rule the
  vector build out when chasing a numerical difference);
* ``avx2``: the AVX2 build, and an error if this CPU or install lacks it.

Both builds compute the same thing; with FMA the roundings differ, so
results agree to rounding, not bit for bit, between the two.
"""
import importlib
import os

from .._utils import _cpu_features

SIMD_LEVELS = ("auto", "baseline", "avx2")
loaded = {}  # module name -> the build load() returned ('avx2' or 'baseline')


def requested_level():
    """The ``FASTFACTOR_SIMD`` setting, validated (``auto`` when unset)."""
    level = os.environ.get("FASTFACTOR_SIMD", "auto").strip().lower() or "auto"
    if level not in SIMD_LEVELS:
        raise ValueError(f"FASTFACTOR_SIMD must be one of {', '.join(SIMD_LEVELS)}; "
                         f"got {level!r}")
    return level


def _import_variant(name):
    try:
        return importlib.import_module(f"{__package__}.{name}_avx2")
    except ImportError:  # not built: non-x86 machine, -Dnative=true, or a compiler without AVX2
        return None


def load(name):
    """Return the compiled module ``fastfactor.kernels.<name>`` in the build to use."""
    level = requested_level()
    if level != "baseline" and _cpu_features.has_avx2_fma():
        module = _import_variant(name)
        if module is not None:
            loaded[name] = "avx2"
            return module
    if level == "avx2":
        raise ImportError(f"FASTFACTOR_SIMD=avx2, but the AVX2 build of {name} cannot run "
                          "here (the CPU lacks AVX2/FMA or the build has no AVX2 variant)")
    loaded[name] = "baseline"
    return importlib.import_module(f"{__package__}.{name}")


def summary():
    """One line for ``fastfactor info``: which kernel build is in use."""
    levels = sorted(set(loaded.values()))
    cpu = "has" if _cpu_features.has_avx2_fma() else "lacks"
    return f"{'/'.join(levels)} kernels (CPU {cpu} AVX2+FMA; FASTFACTOR_SIMD={requested_level()})"


# Every compiled module, loaded once in the build to use; the wrappers of
# fastfactor.kernels call them through these names.
(dense_products, gmm, kmeans, nmf, nmf_masked, sparse_coding, sparse_products) = map(
    load, ("_dense_products", "_gmm", "_kmeans", "_nmf", "_nmf_masked", "_sparse_coding",
           "_sparse_products"))
