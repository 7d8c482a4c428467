"""The chart's database backup and restore, as its Jobs' containers run them, against a real PostgreSQL: the
dump script (rendered by helm) dumps and verifies databases that Prefect and MLflow migrated, owned by
non-superusers as the chart's PostgreSQL creates them; the restore script brings their rows back onto a
fresh install's migrated databases, leaves that install's MLflow logins alone, and a damaged dump changes
nothing."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv import postgres
from devenv.processes import unprivileged_env
from devenv.services import free_port
from tests.charts.chart import containers, find_helm, render


def chart_script(helm: str, container: str, backup_dir: Path) -> str:
    """The shell command of one backup/restore container, its /backup mount at `backup_dir`."""
    chart = render(helm)
    [command] = [
        c["command"]
        for cronjob in chart.of_kind("CronJob")
        for c in containers(cronjob)
        if c["name"] == container
    ]
    assert command[:2] == ["sh", "-c"]
    return str(command[-1]).replace("/backup/", f"{backup_dir}/")


class Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.password = secrets.token_urlsafe(16)
        self.port = free_port()
        parent = postgres.data_parent(root)
        data = postgres.init_cluster(parent, self.password)
        user = postgres.run_as()
        self.process = subprocess.Popen(
            postgres.server_argv(data, self.port),
            cwd=parent,
            user=user,
            env=unprivileged_env() if user else None,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        postgres.wait_ready(self.port, self.password)
        self.passwords = {name: secrets.token_urlsafe(16) for name in ("prefect_app", "mlflow_app")}

    def psql(self, sql: str, database: str = "postgres", user: str | None = None) -> str:
        password = self.passwords[user] if user else self.password
        done = subprocess.run(
            [
                str(postgres.bin_dir() / "psql"),
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                user or postgres.SUPERUSER,
                "-d",
                database,
                "-c",
                sql,
            ],
            env={**os.environ, "PGPASSWORD": password},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def url(self, name: str, driver: str) -> str:
        return f"postgresql+{driver}://{name}:{self.passwords[name]}@127.0.0.1:{self.port}/{name}"

    def fresh_install(self) -> None:
        """What a new install does: the chart's init script's roles and databases, then the migrations."""
        for name, password in self.passwords.items():
            self.psql(f"DROP DATABASE IF EXISTS {name}")
            self.psql(
                f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN "
                f"CREATE ROLE {name} LOGIN PASSWORD '{password}'; END IF; END $$"
            )
            self.psql(f"CREATE DATABASE {name} OWNER {name}")
        migrate = {
            "PREFECT_API_DATABASE_CONNECTION_URL": self.url("prefect_app", "asyncpg"),
            "PREFECT_HOME": str(self.root / "prefect-home"),
        }
        subprocess.run(
            [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
            env={**os.environ, **migrate},
            check=True,
            capture_output=True,
        )
        code = (
            "import sys; from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as S; "
            "from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore as A; "
            "S(sys.argv[1], '/tmp/artifacts'); A().init_db(sys.argv[1])"
        )
        subprocess.run([sys.executable, "-c", code, self.url("mlflow_app", "psycopg2")], check=True)

    def script_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{postgres.bin_dir()}:{os.environ['PATH']}",
            "PREFECT_DATABASE_URL": self.url("prefect_app", "asyncpg"),
            "MLFLOW_DATABASE_URL": self.url("mlflow_app", "psycopg2"),
        }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("pg"))
    try:
        yield running
    finally:
        running.process.terminate()
        running.process.wait(30)


@pytest.fixture(scope="module")
def helm() -> str:
    found = find_helm()
    assert found, "helm not found: `make tools` builds bin/helm"
    return found


def rows(server: Server) -> tuple[str, str, str]:
    """A Prefect flow, an MLflow experiment, and the MLflow logins."""
    return (
        server.psql("SELECT string_agg(name, ',' ORDER BY name) FROM flow", "prefect_app", "prefect_app"),
        server.psql(
            "SELECT string_agg(name, ',' ORDER BY name) FROM experiments", "mlflow_app", "mlflow_app"
        ),
        server.psql(
            "SELECT string_agg(username, ',' ORDER BY username) FROM users", "mlflow_app", "mlflow_app"
        ),
    )


def test_dumped_databases_restore_onto_a_fresh_install_and_a_damaged_dump_changes_nothing(
    server: Server, helm: str, tmp_path: Path
) -> None:
    server.fresh_install()
    server.psql("INSERT INTO flow (name) VALUES ('ML Training Pipeline')", "prefect_app", "prefect_app")
    server.psql(
        "INSERT INTO experiments (name, artifact_location, lifecycle_stage) "
        "VALUES ('loan-default', 's3://a', 'active')",
        "mlflow_app",
        "mlflow_app",
    )
    login = "INSERT INTO users (username, password_hash, is_admin) VALUES ('{}', 'x', false)"
    server.psql(login.format("old-install-login"), "mlflow_app", "mlflow_app")
    before = rows(server)

    dumped = subprocess.run(
        ["sh", "-c", chart_script(helm, "dump", tmp_path)],
        env=server.script_env(),
        capture_output=True,
        text=True,
    )
    assert dumped.returncode == 0, dumped.stderr
    assert re.search(r"prefect: dumped and verified, \d+ bytes", dumped.stdout), dumped.stdout
    assert re.search(r"mlflow: dumped and verified, \d+ bytes", dumped.stdout), dumped.stdout

    server.fresh_install()  # the claims deleted, the release installed again: its own logins Job ran
    server.psql(login.format("new-install-login"), "mlflow_app", "mlflow_app")
    assert rows(server)[:2] == ("", "Default")

    restore = chart_script(helm, "pg-restore", tmp_path)
    restored = subprocess.run(["sh", "-c", restore], env=server.script_env(), capture_output=True, text=True)
    assert restored.returncode == 0, restored.stderr
    assert "prefect: restored" in restored.stdout and "mlflow: restored" in restored.stdout
    flows, experiments, logins = rows(server)
    assert (flows, experiments) == before[:2]
    assert logins == "new-install-login"  # the backup holds no login; the install's own stay

    server.psql("INSERT INTO flow (name) VALUES ('after the restore')", "prefect_app", "prefect_app")
    after = rows(server)
    dump = tmp_path / "prefect.dump"
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    damaged = subprocess.run(["sh", "-c", restore], env=server.script_env(), capture_output=True, text=True)
    assert damaged.returncode != 0
    assert "prefect: restored" not in damaged.stdout
    assert rows(server) == after  # one transaction: the half-read dump rolled back
