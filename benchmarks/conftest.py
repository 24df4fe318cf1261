"""pytest-benchmark suites. With ``--benchmark-disable`` (the CI smoke run)
every benchmark runs once on a small problem, so the suites never rot."""
import pytest


@pytest.fixture(scope="session")
def quick(request):
    """True when benchmarks are disabled (smoke mode): use small problems."""
    return bool(request.config.getoption("benchmark_disable", default=False))
