"""How many CPUs this process may use, and the thread settings every fit and prediction gets.

The host's core count is the wrong number on shared CI runners and in CPU-limited pods: the
CPU affinity (taskset, a cpuset) and the cgroup's CPU quota both allow fewer. And OpenMP
threads that spin while they wait for a core another process holds turn a 3 s fit into
minutes (scikit-learn #16429, #30662): idle threads sleep instead (OMP_WAIT_POLICY=PASSIVE).
OpenMP and BLAS read these variables once, when they load, so they are set before numpy or
scikit-learn is imported: by the `contrail` command for every command it runs (stages,
monitor, retraining), and by the service for its single-threaded workers, one per CPU.

Predictions (evaluation, the monitor) use these threads; the fit itself runs on
`contrail.model.FIT_THREADS` whatever the machine. No count changes the model: its trees and
predictions are the same bit for bit with 1 or 2 threads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
# cgroup v2 ("<quota> <period>" or "max <period>"), then v1 (a quota of -1: no limit).
CPU_MAX = "cpu.max"
CFS_QUOTA = "cpu/cpu.cfs_quota_us"
CFS_PERIOD = "cpu/cpu.cfs_period_us"
# The variables OpenMP (scikit-learn), OpenBLAS (numpy, scipy) and MKL read for their pool size.
THREAD_COUNT_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def quota_cpus(quota: str, period: str) -> int | None:
    """CPUs a CFS quota allows, rounded up; None when there is no quota.

    Rounded up, as scikit-learn (through joblib) and the JVM do: 1.5 CPUs of time is 2 threads
    that together get 1.5 CPUs' time per period, where 1 thread would get only 1; a quota
    under one CPU still runs one thread."""
    quota, period = quota.strip(), period.strip()
    if quota in ("max", "-1"):
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def cgroup_cpus(root: Path = CGROUP) -> int | None:
    """The CPU quota of the cgroup at `root` (in a container, its own); None when there is none
    or it cannot be read, as the runtimes themselves then assume."""
    try:
        if (root / CPU_MAX).exists():
            quota, period = (root / CPU_MAX).read_text().split()
        elif (root / CFS_QUOTA).exists():
            quota, period = (root / CFS_QUOTA).read_text(), (root / CFS_PERIOD).read_text()
        else:
            return None
        return quota_cpus(quota, period)
    except (OSError, ValueError):
        return None


def allowed_cpus(affinity: int, quota: int | None) -> int:
    """CPUs a process may run on at once: its affinity, capped by the quota."""
    return max(1, min(affinity, quota) if quota else affinity)


def usable_cpus(root: Path = CGROUP) -> int:
    """This process's `allowed_cpus`, from its affinity and the cgroup at `root`."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    return allowed_cpus(affinity or os.cpu_count() or 1, cgroup_cpus(root))


def thread_environment(threads: int, current: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables that give OpenMP and BLAS `threads` threads that sleep when idle.

    A variable already in `current` (the environment) is left out: whoever set it chose it."""
    wanted = dict.fromkeys(THREAD_COUNT_VARIABLES, str(threads)) | {"OMP_WAIT_POLICY": "PASSIVE"}
    return {name: value for name, value in wanted.items() if name not in (current or {})}
