"""`mlops up` is idempotent and `mlops down` stops exactly what it started (shown on MinIO alone)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from flows.local_services import LocalServices, Ports


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_is_idempotent_and_down_stops_only_what_it_started(tmp_path: Path) -> None:
    local = LocalServices(tmp_path / "services", Ports.free())
    first = local.start_minio()
    assert local.start_minio() == first  # already running: nothing new
    assert alive(first)
    assert local.down() == ["minio"]
    assert not alive(first)
    assert local.down() == []
    assert not (local.root / "minio.pid").exists()


def test_credentials_are_generated_once_and_private(tmp_path: Path) -> None:
    local = LocalServices(tmp_path / "services")
    creds = local.credentials()
    assert creds == LocalServices(tmp_path / "services").credentials()
    assert (
        creds["AWS_SECRET_ACCESS_KEY"]
        != LocalServices(tmp_path / "other").credentials()["AWS_SECRET_ACCESS_KEY"]
    )
    mode = stat.S_IMODE((local.root / "minio.credentials").stat().st_mode)
    assert mode == 0o600
    env_file = local.write_env_file()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "export PREFECT_API_URL=" in env_file.read_text()
