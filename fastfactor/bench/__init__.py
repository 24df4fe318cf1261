"""Benchmarks on demand: the DESIGN problems, side by side, in one run.

Each family module here (``nmf``, and the others as they land) has
``run(quick=False) -> list[dict]``; a row has ``problem`` (the DESIGN name),
``what``, ``fastfactor_s``, ``sklearn_s`` or ``reference_s``, ``speedup``
(baseline time / fastfactor time, > 1 is faster) and ``note`` (quality of
both sides). ``fastfactor bench`` and ``benchmarks/compare.py`` use this.
"""
import importlib
import os
import pkgutil
import platform
import time

__all__ = ["families", "run", "markdown", "machine_summary"]


def families():
    """Names of the family modules in this package."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def run(quick=False, only=None, log=None):
    """Run the comparisons of ``only`` (default: every family); returns all rows."""
    rows = []
    for family in only or families():
        if family not in families():
            raise ValueError(f"unknown benchmark family {family!r}; expected one of "
                             f"{families()}")
        module = importlib.import_module(f"{__name__}.{family}")
        start = time.perf_counter()
        family_rows = module.run(quick=quick)
        for row in family_rows:
            row.setdefault("family", family)
        if log is not None:
            log(f"{family}: {len(family_rows)} comparisons in "
                f"{time.perf_counter() - start:.0f} s")
        rows += family_rows
    return rows


def machine_summary():
    """One line describing where the numbers come from."""
    import numpy as np
    import threadpoolctl

    from .._version import __version__
    from ..kernels import _dispatch
    from .._utils.threads import effective_n_threads, openmp_enabled

    blas = [f"{i.get('internal_api')} {i.get('version') or ''}".strip()
            for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    try:
        import sklearn

        skl = f", scikit-learn {sklearn.__version__}"
    except ImportError:
        skl = ", scikit-learn not installed"
    return (f"fastfactor {__version__}, numpy {np.__version__}{skl}, {platform.machine()}, "
            f"{os.cpu_count()} CPUs, OpenMP {'on' if openmp_enabled() else 'off'} "
            f"({effective_n_threads()} threads), {_dispatch.summary()}, "
            f"BLAS: {', '.join(blas) or 'unknown'}")


def markdown(rows):
    """Rows as one Markdown table."""
    lines = ["| problem | what | fastfactor (s) | baseline (s) | speed-up | note |",
             "|---|---|---:|---:|---:|---|"]
    for r in rows:
        if "sklearn_s" in r:
            base, kind = r["sklearn_s"], "scikit-learn"
        else:
            base, kind = r.get("reference_s"), "reference"
        lines.append(f"| {r['problem']} | {r['what']} | {r['fastfactor_s']:.4f} | "
                     f"{base:.4f} ({kind}) | **{r['speedup']:.2f}x** | {r.get('note', '')} |")
    return "\n".join(lines)
