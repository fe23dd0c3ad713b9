"""CPU count for thread pools: affinity capped by the cgroup's quota (v2 and v1 files)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from talkavocado_common.cpus import cgroup_cpu_limit, effective_cpus, parse_cfs, parse_cpu_max


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("200000 100000\n", 2.0),
        ("150000 100000", 1.5),
        ("max 100000\n", None),
        ("", None),
        ("garbage", None),
        ("0 100000", None),
    ],
)
def test_cgroup_v2_cpu_max(text: str, expected: float | None) -> None:
    assert parse_cpu_max(text) == expected


def test_cgroup_v1_cfs_quota() -> None:
    assert parse_cfs("50000\n", "100000\n") == 0.5
    assert parse_cfs("-1\n", "100000\n") is None


def test_the_quota_caps_the_affinity(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a CPU → 1 thread
    assert cgroup_cpu_limit(tmp_path) == 0.5
    assert effective_cpus(tmp_path) == 1
    (tmp_path / "cpu.max").write_text(f"{(affinity + 3) * 100000} 100000\n")
    assert effective_cpus(tmp_path) == affinity  # a quota above the cores changes nothing
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert effective_cpus(tmp_path) == 1
    assert effective_cpus(tmp_path / "missing") == affinity
