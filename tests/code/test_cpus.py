"""The CPUs a process may use (affinity and cgroup quota), and the thread settings that follow."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from contrail import cpus


@pytest.mark.parametrize(
    ("quota", "period", "expected"),
    [
        ("max", "100000", None),  # cgroup v2: no limit
        ("-1", "100000", None),  # cgroup v1: no limit
        ("100000", "100000", 1),
        ("150000", "100000", 2),  # 1.5 CPUs' time: 2 threads share it
        ("50000", "100000", 1),  # under one CPU still runs one thread
        ("400000\n", "100000\n", 4),  # v1 files end in a newline
    ],
)
def test_quota_rounds_up_to_whole_cpus(quota, period, expected):
    assert cpus.quota_cpus(quota, period) == expected


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "150000 100000\n"}, 2),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "250000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),  # no cgroup CPU controller (not Linux, or not mounted)
        ({"cpu.max": "max\n"}, None),  # unreadable: no limit, as the runtimes assume
        ({"cpu/cpu.cfs_quota_us": "200000\n"}, None),  # v1 quota without its period
    ],
)
def test_cgroup_quota_from_v2_then_v1_files(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cpus.cgroup_cpus(tmp_path) == expected


@pytest.mark.parametrize(
    ("affinity", "quota", "expected"), [(4, 2, 2), (2, 8, 2), (2, None, 2), (1, None, 1)]
)
def test_allowed_cpus_is_the_affinity_capped_by_the_quota(affinity, quota, expected):
    assert cpus.allowed_cpus(affinity, quota) == expected


def test_usable_cpus_reads_affinity_not_the_host_core_count(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert cpus.usable_cpus(tmp_path) == 4
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cpus.usable_cpus(tmp_path) == 2


def test_thread_environment_keeps_what_the_caller_set():
    assert cpus.thread_environment(3) == {
        "OMP_NUM_THREADS": "3",
        "OPENBLAS_NUM_THREADS": "3",
        "MKL_NUM_THREADS": "3",
        "OMP_WAIT_POLICY": "PASSIVE",
    }
    chosen = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "ACTIVE"}
    assert cpus.thread_environment(3, chosen) == {
        "OPENBLAS_NUM_THREADS": "3",
        "MKL_NUM_THREADS": "3",
    }


def cli_environment(env: dict[str, str]) -> dict[str, object]:
    """What importing the `contrail` command leaves in the environment, and what it loaded."""
    script = (
        "import json, os, sys; import contrail.cli; "
        "print(json.dumps({'env': {k: os.environ.get(k) for k in "
        f"{[*cpus.THREAD_COUNT_VARIABLES, 'OMP_WAIT_POLICY']!r}}}, "
        "'loaded': [m for m in ('numpy', 'sklearn') if m in sys.modules]}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_command_sets_threads_before_numpy_or_sklearn_loads():
    base = {k: v for k, v in os.environ.items() if k not in cpus.thread_environment(1)}
    usable = str(cpus.usable_cpus())
    assert cli_environment(base) == {
        "env": {
            "OMP_NUM_THREADS": usable,
            "OPENBLAS_NUM_THREADS": usable,
            "MKL_NUM_THREADS": usable,
            "OMP_WAIT_POLICY": "PASSIVE",
        },
        "loaded": [],
    }
    chosen = cli_environment({**base, "OMP_NUM_THREADS": "1"})
    assert chosen["env"]["OMP_NUM_THREADS"] == "1"  # type: ignore[index]
