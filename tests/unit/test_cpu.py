"""The CPU budget: affinity capped by a cgroup quota, read from a cgroup tree laid out in a tmp dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows.adapters.cpu import cpu_budget, quota_cpus

AFFINITY = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("quota", "period", "cpus"),
    [("200000", "100000", 2.0), ("150000", "100000", 1.5), ("max", "100000", None)],
)
def test_quota_in_cpus(quota: str, period: str, cpus: float | None) -> None:
    assert quota_cpus(quota, period) == cpus


def test_v1_unlimited_quota_is_no_limit() -> None:
    assert quota_cpus("-1\n", "100000\n") is None


def test_a_cgroup_v2_quota_caps_the_budget(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert cpu_budget(tmp_path) == 1


def test_a_fractional_quota_rounds_up(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("150000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cpu_budget(tmp_path) == min(AFFINITY, 2)


def test_no_quota_or_a_garbled_file_means_the_affinity_mask(tmp_path: Path) -> None:
    assert cpu_budget(tmp_path) == AFFINITY
    (tmp_path / "cpu.max").write_text("garbage\n")
    assert cpu_budget(tmp_path) == AFFINITY


def test_openmp_waits_passively_unless_told_otherwise() -> None:
    import subprocess
    import sys

    probe = "import flows, os; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    default = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert default.stdout.strip() == "PASSIVE"
    chosen = subprocess.run(
        [sys.executable, "-c", probe],
        env=env | {"OMP_WAIT_POLICY": "ACTIVE"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert chosen.stdout.strip() == "ACTIVE"
