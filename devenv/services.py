"""The local-services topology as processes: MinIO, an MLflow server, a Prefect server and a process worker.

`make up` (`python -m devenv up`) starts what is not running yet (pid files make it idempotent), `make down`
stops exactly what it started. Logs, pid files, data and the generated MinIO and Prefect credentials live in
`<MLOPS_HOME>/services/`.
"""

from __future__ import annotations

import base64
import json
import os
import random
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from devenv import REPO, chart_image, postgres
from devenv.processes import reap, unprivileged_env, wait_http
from flows.logic.registry_access import ROLES, Role, server_config, username
from flows.logic.storage_access import GRANTS, Bucket, access_key
from flows.zombie_runs import HEARTBEAT_SECONDS
from flows.zombie_runs import install as install_reaper

if TYPE_CHECKING:
    from prefect.settings import Setting

# The buckets by what they hold (flows.logic.storage_access grants access to them by these kinds).
NAMED_BUCKETS: dict[Bucket, str] = {
    "data": "mlops-data",
    "landing": "mlops-landing",
    "artifacts": "mlflow-artifacts",
}
BUCKETS = tuple(NAMED_BUCKETS.values())
WORK_POOL = "local-process"


# Ports handed out by free_port in this process: never twice, even once their service has stopped.
_HANDED_OUT: set[int] = set()
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 10_000
# Kubernetes' default NodePort range: kube-proxy holds these on the e2e node.
NODE_PORTS = range(30_000, 32_768)


def ephemeral_range(path: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    """The kernel's range for the source ports of outgoing connections (and for bind to port 0)."""
    try:
        low, high = (int(n) for n in path.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
    return low, high


def port_candidates(ephemeral: tuple[int, int]) -> list[int]:
    """Ports outside the ephemeral range: no outgoing connection of any process can take one of them
    between our check and the service's bind (a port from bind(0) can be, by any client's connect)."""
    low, high = ephemeral
    return [p for p in range(LOWEST_PORT, 65536) if not low <= p <= high and p not in NODE_PORTS]


def port_share(env: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """(index, count) of the ports this process may hand out: a pytest-xdist worker (gw0, gw1, ...) takes
    the ports whose remainder modulo the worker count is its index, so that parallel test processes,
    which cannot see each other's `_HANDED_OUT`, never pick the same free port before either binds it."""
    worker, count = env.get("PYTEST_XDIST_WORKER", ""), env.get("PYTEST_XDIST_WORKER_COUNT", "")
    if not (worker.startswith("gw") and worker[2:].isdigit() and count.isdigit()):
        return 0, 1
    return int(worker[2:]), int(count)


def free_port() -> int:
    """A loopback port that nothing listens on and that this process has not handed out before."""
    index, count = port_share()
    candidates = [
        p for p in port_candidates(ephemeral_range()) if p not in _HANDED_OUT and p % count == index
    ]
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port outside the ephemeral range {ephemeral_range()}")


@dataclass(frozen=True)
class Ports:
    minio: int = 9000
    minio_console: int = 9001
    mlflow: int = 5000
    prefect: int = 4200
    postgres: int = 5433  # not 5432: leave a system PostgreSQL alone

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port())


@dataclass
class LocalServices:
    """Where the services live and how clients reach them."""

    root: Path
    ports: Ports = field(default_factory=Ports)
    # "sqlite" (Prefect's default) or "postgres": a local PostgreSQL, for several pipelines at once.
    prefect_database: str = "sqlite"

    def __post_init__(self) -> None:
        if self.prefect_database not in ("sqlite", "postgres"):
            raise ValueError(f"prefect_database is 'sqlite' or 'postgres', not {self.prefect_database!r}")

    @property
    def minio_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.minio}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.mlflow}"

    @property
    def prefect_api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.prefect}/api"

    def _kept_secret(self, name: str, generate: Callable[[], str]) -> str:
        """A secret generated on first use and kept in <root>/<name> (mode 600) for later runs."""
        path = self.root / name
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(generate())
        return path.read_text()

    def credentials(self) -> dict[str, str]:
        """MinIO root credentials: for the buckets' set-up (and tests' look behind the scenes) only."""
        pair = self._kept_secret(
            "minio.credentials", lambda: f"mlops-{secrets.token_hex(4)}\n{secrets.token_urlsafe(24)}\n"
        )
        user, password = pair.split()
        return {"AWS_ACCESS_KEY_ID": user, "AWS_SECRET_ACCESS_KEY": password}

    def identity(self, role: str) -> dict[str, str]:
        """The S3 credentials of one client identity (storage_access.GRANTS), kept like the root's."""
        secret = self._kept_secret(f"s3-{role}.credentials", lambda: secrets.token_urlsafe(30)).strip()
        return {"AWS_ACCESS_KEY_ID": access_key(role), "AWS_SECRET_ACCESS_KEY": secret}

    def prefect_auth_string(self) -> str:
        """The Prefect server's basic-auth credential, `admin:<password>` (Prefect OSS has one, no roles)."""
        return self._kept_secret("prefect.credentials", lambda: f"admin:{secrets.token_urlsafe(24)}").strip()

    def prefect_settings(self) -> dict[Setting, str]:
        """The Prefect client settings for these services, for `temporary_settings(updates=...)`."""
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL

        return {PREFECT_API_URL: self.prefect_api_url, PREFECT_API_AUTH_STRING: self.prefect_auth_string()}

    def mlflow_admin(self) -> dict[str, str]:
        """The MLflow admin's login, as the client environment names it (MLflow ships no default one)."""
        password = self._kept_secret("mlflow-admin.credentials", lambda: secrets.token_urlsafe(24)).strip()
        return {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": password}

    def mlflow_login(self, role: Role) -> dict[str, str]:
        """The MLflow login of one role (registry_access.GRANTS), kept like the admin's."""
        password = self._kept_secret(f"mlflow-{role}.credentials", lambda: secrets.token_urlsafe(24)).strip()
        return {"MLFLOW_TRACKING_USERNAME": username(role), "MLFLOW_TRACKING_PASSWORD": password}

    def postgres_password(self) -> str:
        """The local PostgreSQL's password."""
        return self._kept_secret("postgres.credentials", lambda: secrets.token_urlsafe(24)).strip()

    def client_env(self) -> dict[str, str]:
        """The environment that points the pipeline, the CLI and the worker at these services."""
        return {
            # The operator's identity: lands batches, reads and writes the data bucket; never the root.
            **self.identity("operator"),
            "AWS_DEFAULT_REGION": "us-east-1",
            "PREFECT_API_URL": self.prefect_api_url,
            "PREFECT_API_AUTH_STRING": self.prefect_auth_string(),
            "MLOPS_S3_ENDPOINT_URL": self.minio_url,
            "MLOPS_LANDING_URL": "s3://mlops-landing",
            "MLOPS_DATA_URL": "s3://mlops-data",
            "MLOPS_MLFLOW_TRACKING_URI": self.mlflow_url,
            # One operator's stack: its shell and its process worker's stages use the admin login. The chart
            # gives each stage its role's login instead (README, "MLflow roles").
            **self.mlflow_admin(),
            "MLOPS_WORK_POOL": WORK_POOL,
            "MLOPS_PROJECT_DIR": str(REPO),
            "MLOPS_GPU_IMAGE": chart_image("flowRunnerGpu"),  # train-gpu's; a process pool runs no image
        }

    def write_env_file(self) -> Path:
        path = self.root / "env.sh"
        path.touch(mode=0o600)
        path.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.client_env().items()))
        return path

    # --- processes -------------------------------------------------------------------------

    def pid(self, name: str) -> int | None:
        """The pid of a running service that we started, else None."""
        path = self.root / f"{name}.pid"
        if not path.exists():
            return None
        pid = int(path.read_text())
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def spawn(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        health_url: str | None,
        user: str | None = None,
        cwd: Path | None = None,
    ) -> int:
        """Start a service unless it runs already; wait until it answers."""
        running = self.pid(name)
        if running is not None:
            return running
        log = (self.root / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv,
            env={**(os.environ if user is None else unprivileged_env()), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd or self.root,
            start_new_session=True,  # its own process group: `down` stops all of it
            user=user,
        )
        (self.root / f"{name}.pid").write_text(str(process.pid))
        if health_url:
            wait_http(health_url, process, self.root / f"{name}.log")
        return process.pid

    def stop(self, name: str, timeout: float = 20) -> bool:
        pid = self.pid(name)
        (self.root / f"{name}.pid").unlink(missing_ok=True)
        if pid is None:
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reap(pid)
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)
        reap(pid)
        return True

    def start_minio(self) -> int:
        binary = shutil.which("minio") or str(REPO / "bin" / "minio")
        if not Path(binary).exists():
            raise RuntimeError("no minio binary: run `make tools` (it builds bin/minio)")
        creds = self.credentials()
        data = self.root / "minio-data"
        data.mkdir(parents=True, exist_ok=True)
        env = {
            "MINIO_ROOT_USER": creds["AWS_ACCESS_KEY_ID"],
            "MINIO_ROOT_PASSWORD": creds["AWS_SECRET_ACCESS_KEY"],
            "MINIO_UPDATE": "off",
        }
        argv = [
            binary,
            "server",
            str(data),
            "--address",
            f"127.0.0.1:{self.ports.minio}",
            "--console-address",
            f"127.0.0.1:{self.ports.minio_console}",
            "--quiet",
        ]
        pid = self.spawn("minio", argv, env, f"{self.minio_url}/minio/health/live")
        self.create_buckets()
        return pid

    def s3_client(self) -> Any:
        """A boto3 client on this MinIO, as its admin."""
        import boto3

        creds = self.credentials()
        return boto3.client(
            "s3",
            endpoint_url=self.minio_url,
            region_name="us-east-1",
            aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        )

    def create_buckets(self) -> None:
        """Buckets, versioning and one user per client identity, as the chart's bucket Job makes them."""
        from flows.storage_setup import set_up

        root = self.credentials()
        identities = {role: self.identity(role)["AWS_SECRET_ACCESS_KEY"] for role in GRANTS}
        set_up(
            self.minio_url,
            (root["AWS_ACCESS_KEY_ID"], root["AWS_SECRET_ACCESS_KEY"]),
            list(BUCKETS),
            NAMED_BUCKETS,
            identities,
        )

    def start_mlflow(self) -> int:
        """The tracking server with MLflow's basic-auth app, its logins and grants made as the chart's Job
        makes them (flows.registry_setup)."""
        config = self.root / "mlflow-auth.ini"
        config.write_text(server_config(f"sqlite:///{self.root / 'mlflow-auth.db'}"))
        env = {
            **self.identity("mlflow"),
            "MLFLOW_AUTH_CONFIG_PATH": str(config),
            "MLFLOW_AUTH_ADMIN_PASSWORD": self.mlflow_admin()["MLFLOW_TRACKING_PASSWORD"],
            "MLFLOW_FLASK_SERVER_SECRET_KEY": self._kept_secret("mlflow-flask.key", secrets.token_hex),
            "MLFLOW_S3_ENDPOINT_URL": self.minio_url,
            # The server's job runner (GenAI scorers, trace archival) is unused here; it adds processes beside
            # uvicorn, and each start leaves a directory in /dev/shm that nothing removes.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
        argv = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--app-name",
            "basic-auth",
            "--backend-store-uri",
            f"sqlite:///{self.root / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination",
            "s3://mlflow-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.ports.mlflow),
            "--workers",
            "1",
        ]
        pid = self.spawn("mlflow", argv, env, f"{self.mlflow_url}/health")
        self.create_logins()
        return pid

    def create_logins(self) -> None:
        from flows.registry_setup import set_up

        passwords = {role: self.mlflow_login(role)["MLFLOW_TRACKING_PASSWORD"] for role in ROLES}
        with patch.dict(os.environ, self.mlflow_admin()):  # MLflow's auth client reads its login there
            set_up(self.mlflow_url, passwords)

    def start_postgres(self) -> int:
        password = self.postgres_password()
        parent = postgres.data_parent(self.root)
        data = postgres.init_cluster(parent, password)
        argv = postgres.server_argv(data, self.ports.postgres)
        pid = self.spawn("postgres", argv, {}, None, user=postgres.run_as(), cwd=parent)
        postgres.wait_ready(self.ports.postgres, password)
        return pid

    def start_prefect(self) -> int:
        env = {
            "PREFECT_HOME": str(self.root / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            # Locked like the cluster's server: every API call needs the credential, state changes a CSRF
            # token, and only the UI's own origin may call it from a browser.
            "PREFECT_SERVER_API_AUTH_STRING": self.prefect_auth_string(),
            "PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED": "true",
            "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS": self.prefect_api_url.removesuffix("/api"),
            # A stage queued behind ingest's or prepare's concurrency limit retries after 2 s, not 30 s:
            # those stages take seconds here.
            "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "2",
        }
        if self.prefect_database == "postgres":
            password = self.postgres_password()
            env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = postgres.connection_url(
                self.ports.postgres, password
            )
        argv = [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.ports.prefect),
        ]
        return self.spawn("prefect", argv, env, f"{self.prefect_api_url}/health")

    def start_worker(self) -> int:
        env = {
            **self.client_env(),
            # The flow runs it starts read the landing bucket and write the data bucket, nothing more.
            **self.identity("flow-runs"),
            "PREFECT_HOME": str(self.root / "worker-prefect"),
            "MLOPS_HOME": str(self.root / "worker-home"),
            "PREFECT_WORKER_QUERY_SECONDS": "1",  # pick up stage runs within a second
            # Every flow run it starts heartbeats, so that flows.zombie_runs can tell a vanished one.
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
            "DVC_NO_ANALYTICS": "1",
        }
        argv = [
            sys.executable,
            "-m",
            "prefect",
            "worker",
            "start",
            "--pool",
            WORK_POOL,
            "--type",
            "process",
            "--name",
            f"local-{socket.gethostname()}",
        ]
        pid = self.spawn("worker", argv, env, None)
        self.wait_for_worker()
        return pid

    def install_zombie_reaper(self) -> None:
        """The automation crashing flow runs whose heartbeats stopped, as the chart's init container does."""
        from prefect.settings import temporary_settings

        with temporary_settings(updates=self.prefect_settings()):
            install_reaper(WORK_POOL)

    def wait_for_worker(self, timeout: float = 60) -> None:
        """Until the worker has created its pool and reported in (the pool turns READY)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pool_is_ready(self.prefect_api_url, WORK_POOL, self.prefect_auth_string()):
                return
            time.sleep(1)
        raise TimeoutError(f"worker did not come up; see {self.root / 'worker.log'}")

    def up(self) -> dict[str, int]:
        """Start everything that is not running; returns the pids."""
        self.root.mkdir(parents=True, exist_ok=True)
        pids = {"minio": self.start_minio(), "mlflow": self.start_mlflow()}
        if self.prefect_database == "postgres":
            pids["postgres"] = self.start_postgres()
        pids["prefect"] = self.start_prefect()
        self.install_zombie_reaper()
        pids["worker"] = self.start_worker()
        self.write_env_file()
        return pids

    def down(self) -> list[str]:
        """Stop what `up` started, worker first; returns the names stopped."""
        return [name for name in ("worker", "prefect", "postgres", "mlflow", "minio") if self.stop(name)]


def basic_auth_header(credential: str) -> dict[str, str]:
    """The Authorization header of HTTP basic auth for a `user:password` credential."""
    return {"Authorization": "Basic " + base64.b64encode(credential.encode()).decode()}


def pool_is_ready(api_url: str, pool: str, auth_string: str) -> bool:
    """Whether a worker has created the pool and reported in (the pool's status is READY)."""
    request = urllib.request.Request(f"{api_url}/work_pools/{pool}", headers=basic_auth_header(auth_string))
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return bool(json.loads(response.read()).get("status") == "READY")
    except OSError:
        return False
