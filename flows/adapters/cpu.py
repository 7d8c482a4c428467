"""How many CPUs this process may really use: its affinity mask, capped by its cgroup's CPU quota.

`os.cpu_count()` counts the node's CPUs; a Kubernetes Job limited to 2 CPUs on a 32-core node would
start 32 XGBoost threads and spend its quota on contention. The quota is what the limit sets.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def quota_cpus(quota: str, period: str) -> float | None:
    """CPUs granted by a CFS quota and period (cgroup v2 'max' or v1 '-1' mean no limit)."""
    if quota.strip() in ("max", "-1"):
        return None
    q, p = int(quota), int(period)
    if q <= 0 or p <= 0:
        return None
    return q / p


def _cgroup_quota(root: Path) -> float | None:
    v2 = root / "cpu.max"
    if v2.is_file():
        quota, period = v2.read_text().split()
        return quota_cpus(quota, period)
    for v1 in (root / "cpu", root / "cpu,cpuacct"):
        if (v1 / "cpu.cfs_quota_us").is_file():
            return quota_cpus((v1 / "cpu.cfs_quota_us").read_text(), (v1 / "cpu.cfs_period_us").read_text())
    return None


def cpu_budget(root: Path = CGROUP) -> int:
    """Whole CPUs available to this process, at least 1."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota = _cgroup_quota(root)
    except (OSError, ValueError):  # an unreadable or odd cgroup file: fall back to the affinity mask
        quota = None
    if quota is not None:
        available = min(available, math.ceil(quota))
    return max(1, available)
