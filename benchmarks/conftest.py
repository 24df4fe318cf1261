"""pytest-benchmark suites. With ``--benchmark-disable`` (the CI smoke run)
every benchmark runs once on a small problem, so the suites never rot.

Every benchmark also checks what it timed (quality reached, shapes, agreement
with scikit-learn or with the numpy twin of a kernel): a suite that only
times would keep passing on wrong answers.
"""
import warnings

import pytest


@pytest.fixture(scope="session")
def quick(request):
    """True when benchmarks are disabled (smoke mode): use small problems."""
    return bool(request.config.getoption("benchmark_disable", default=False))


@pytest.fixture(autouse=True)
def _quiet():
    """No warnings: benchmarks stop at fixed iteration counts, before convergence."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
