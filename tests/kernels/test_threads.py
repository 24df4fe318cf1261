"""How a thread count is decided: n_threads/n_jobs, negative counts, the CPUs we may use."""
import io
import os

import pytest

from fastfactor._utils import threads
from fastfactor._utils.threads import (
    available_cpus,
    effective_n_threads,
    openmp_enabled,
    resolve_n_threads,
)


@pytest.fixture
def cpus(monkeypatch):
    """Pretend OpenMP is on and this process may use a given number of CPUs."""
    monkeypatch.setattr(threads, "openmp_enabled", lambda: True)

    def set_cpus(n):
        monkeypatch.setattr(threads, "available_cpus", lambda: n)

    return set_cpus


def test_threadpoolctl_limits_the_kernels():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert effective_n_threads() == 1
    if openmp_enabled():
        assert effective_n_threads(2) == 2


def test_bad_thread_counts():
    with pytest.raises(ValueError, match="n_threads"):
        effective_n_threads(0)
    with pytest.raises(TypeError, match="n_threads"):
        effective_n_threads(1.5)
    with pytest.raises(TypeError, match="n_threads"):
        effective_n_threads(True)
    # -1 is every CPU this process may use (1 in a build without OpenMP)
    assert effective_n_threads(-1) == (available_cpus() if openmp_enabled() else 1)


@pytest.mark.parametrize("n_threads, expected", [(-1, 4), (-2, 3), (-4, 1), (-5, 1), (-64, 1),
                                                 (3, 3), (7, 7)])
def test_negative_counts_count_back_from_the_available_cpus(cpus, n_threads, expected):
    cpus(4)
    assert effective_n_threads(n_threads) == expected


def test_all_but_one_cpu_is_still_one_thread_on_a_single_cpu(cpus):
    cpus(1)
    assert effective_n_threads(-1) == 1
    assert effective_n_threads(-2) == 1


def test_without_openmp_every_count_is_one(monkeypatch):
    monkeypatch.setattr(threads, "openmp_enabled", lambda: False)
    assert [effective_n_threads(n) for n in (None, 1, 4, -1)] == [1, 1, 1, 1]


def test_threads_for_small_work_is_one_thread(cpus):
    cpus(4)
    per_thread = threads.MIN_WORK_PER_THREAD
    assert threads.threads_for(0, 4) == 1
    assert threads.threads_for(per_thread - 1, 4) == 1
    assert threads.threads_for(2 * per_thread, 4) == 2
    assert threads.threads_for(100 * per_thread, 4) == 4
    assert threads.threads_for(100 * per_thread, -2) == 3


# ------------------------------------------------------------ available_cpus

def _affinity(monkeypatch, cpus):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)


def test_available_cpus_follows_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(threads, "_cgroup_cpu_quota", lambda: None)
    _affinity(monkeypatch, 3)
    assert available_cpus() == 3


@pytest.mark.parametrize("quota, expected", [(2, 2), (3, 3), (8, 3)])
def test_available_cpus_follows_a_cgroup_quota(monkeypatch, quota, expected):
    _affinity(monkeypatch, 3)
    monkeypatch.setattr(threads, "_cgroup_cpu_quota", lambda: quota)
    assert available_cpus() == expected


@pytest.mark.parametrize("error", [AttributeError, OSError])
def test_available_cpus_without_an_affinity_mask_counts_the_machine(monkeypatch, error):
    def no_affinity(pid):
        raise error("not on this system")

    monkeypatch.setattr(os, "sched_getaffinity", no_affinity, raising=False)
    monkeypatch.setattr(threads, "_cgroup_cpu_quota", lambda: None)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert available_cpus() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one
    assert available_cpus() == 1


def _cgroup_files(monkeypatch, files):
    """Serve ``files`` ({path: text}) to the quota reader; every other path is missing."""
    def fake_open(path, *args, **kwargs):
        if path not in files:
            raise FileNotFoundError(path)
        return io.StringIO(files[path])

    monkeypatch.setattr(threads, "open", fake_open, raising=False)


@pytest.mark.parametrize("files, expected", [
    ({"/sys/fs/cgroup/cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs: two threads
    ({"/sys/fs/cgroup/cpu.max": "50000 100000\n"}, 1),
    ({"/sys/fs/cgroup/cpu.max": "max 100000\n"}, None),
    ({"/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "400000\n",
      "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"}, 4),
    ({"/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
      "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({"/sys/fs/cgroup/cpu.max": "garbage here\n"}, None),
    ({}, None),
])
def test_cgroup_quota_is_read_from_v2_or_v1_files(monkeypatch, files, expected):
    _cgroup_files(monkeypatch, files)
    assert threads._cgroup_cpu_quota() == expected


# ------------------------------------------------------------ n_threads / n_jobs

@pytest.mark.parametrize("n_threads, n_jobs, expected", [
    (None, None, None), (2, None, 2), (None, 3, 3), (2, 2, 2), (-1, None, -1), (None, -2, -2),
])
def test_resolve_n_threads_takes_either_spelling(n_threads, n_jobs, expected):
    assert resolve_n_threads(n_threads, n_jobs) == expected


def test_resolve_n_threads_refuses_two_different_values():
    with pytest.raises(ValueError, match=r"n_threads=2 and n_jobs=3"):
        resolve_n_threads(2, 3)
