"""How many CPUs this process may really use: the smaller of its CPU affinity and its cgroup's
CPU quota. In a container with a CPU limit the affinity still lists every core of the node, and
CTranslate2 or x264 sized by it would be throttled by the quota."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def parse_cpu_max(text: str) -> float | None:
    """cgroup v2 `cpu.max` ("200000 100000" → 2.0; "max 100000" → None: no limit)."""
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def parse_cfs(quota_text: str, period_text: str) -> float | None:
    """cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` (quota -1: no limit)."""
    try:
        quota, period = int(quota_text.strip()), int(period_text.strip())
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota of this process's cgroup in CPUs, or None when it has none."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        return parse_cpu_max(v2)
    for v1 in (root / "cpu", root / "cpu,cpuacct"):
        quota, period = _read(v1 / "cpu.cfs_quota_us"), _read(v1 / "cpu.cfs_period_us")
        if quota is not None and period is not None:
            return parse_cfs(quota, period)
    return None


def effective_cpus(root: Path = CGROUP_ROOT) -> int:
    """CPUs to size thread pools by: affinity, capped by the cgroup quota (rounded up)."""
    if hasattr(os, "sched_getaffinity"):
        available = len(os.sched_getaffinity(0))
    else:  # pragma: no cover - not Linux
        available = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        available = min(available, math.ceil(limit))
    return max(1, available)
