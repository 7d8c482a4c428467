"""`make up` is idempotent, `make down` stops exactly what it started (shown on MinIO alone), and
Prefect's optional local PostgreSQL keeps its data across both."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.settings import temporary_settings

from devenv import postgres
from devenv.services import LocalServices, Ports


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


def test_prefect_on_local_postgres_keeps_its_data_across_down_and_up(tmp_path: Path) -> None:
    local = LocalServices(tmp_path / "services", Ports.free(), prefect_database="postgres")
    local.root.mkdir(parents=True)
    try:
        local.start_postgres()
        local.start_prefect()
        with temporary_settings(updates=local.prefect_settings()):
            with get_client(sync_client=True) as client:
                made = client.create_work_pool(WorkPoolCreate(name="survives-restart", type="process"))
            assert local.down() == ["prefect", "postgres"]
            local.start_postgres()
            local.start_prefect()
            with get_client(sync_client=True) as client:
                assert client.read_work_pool("survives-restart").id == made.id
    finally:
        local.down()
        location = (local.root / "postgres.location").read_text() if postgres.run_as() else ""
        postgres.remove_data(local.root)
    assert not location or not Path(location).exists()
    assert not list((local.root / "prefect").glob("*.db")), "Prefect wrote a SQLite database"
    assert stat.S_IMODE((local.root / "postgres.credentials").stat().st_mode) == 0o600
    password = local.postgres_password()
    for log in ("prefect.log", "postgres.log"):
        assert password not in (local.root / log).read_text()


def test_an_unknown_prefect_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'sqlite' or 'postgres', not 'mysql'"):
        LocalServices(tmp_path, prefect_database="mysql")
