"""Session-wide real services as processes (MinIO, MLflow server, Prefect server) and a tenant per test."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prefect.settings import temporary_settings

from devenv.services import REPO, LocalServices, Ports
from flows.settings import Settings

DATA_BUCKET, LANDING_BUCKET = "mlops-data", "mlops-landing"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


def flush_prefect_clients(timeout: float = 60) -> None:
    """Send the events and logs this process still queues for these services' Prefect server while it is up.

    At exit Prefect drains them without a time limit, each item retried ~30 s against a server that is
    gone: a few hundred left from one module held a finished session for hours.
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for service in (APILogWorker, EventsWorker):
        service.drain_all(timeout=timeout)


@contextmanager
def service_processes(root: Path) -> Iterator[LocalServices]:
    """MinIO, MLflow and the Prefect server on free ports, no worker (stages run inline in the test)."""
    local = LocalServices(root, Ports.free())
    try:
        local.start_minio()
        local.start_mlflow()
        local.start_prefect()
        with temporary_settings(updates=local.prefect_settings()):
            yield local
            flush_prefect_clients()
    finally:
        local.down()


def deploy_flows(services: LocalServices, name: str | None = None) -> None:
    """The deployments of prefect.yaml (all, or the one named) registered on these services, as
    `make deploy-flows` does."""
    which = ["--name", name] if name else ["--all"]
    deploy = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", *which],
        cwd=REPO,
        env={**os.environ, **services.client_env()},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert deploy.returncode == 0, deploy.stdout[-3000:] + deploy.stderr[-3000:]


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServices]:
    """The `make up` topology on free ports, started once; the worker only where a test needs it."""
    with service_processes(tmp_path_factory.mktemp("services")) as local:
        yield local


@dataclass
class Platform:
    """One isolated tenant of the shared services: its own prefixes, experiment and model."""

    settings: Settings
    services: LocalServices
    tracking_uri: str
    data_prefix: str
    landing_prefix: str  # the default dataset's folder in the landing bucket: <tenant>/<dataset>

    def s3(self) -> Any:
        return self.services.s3_client()


def new_platform(
    root: Path, services: LocalServices, monkeypatch: pytest.MonkeyPatch, tenant: str | None = None
) -> Platform:
    """Point the environment (and so every stage's settings) at a tenant of the services."""
    tenant = tenant or uuid.uuid4().hex[:10]
    env = services.client_env() | {
        "MLOPS_HOME": str(root / "home"),
        "MLOPS_LANDING_URL": f"s3://{LANDING_BUCKET}/{tenant}",
        "MLOPS_DATA_URL": f"s3://{DATA_BUCKET}/{tenant}",
        "MLOPS_EXPERIMENT_NAME": f"exp-{tenant}",
        "MLOPS_MODEL_NAME": f"model-{tenant}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    return Platform(settings, services, services.mlflow_url, tenant, f"{tenant}/{settings.dataset}")


@pytest.fixture
def platform(services: LocalServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    return new_platform(tmp_path, services, monkeypatch)


@pytest.fixture(scope="module")
def module_platform(services: LocalServices, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A tenant shared by one module's tests (for expensive set-ups such as a 3-batch run)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield new_platform(tmp_path_factory.mktemp("module"), services, monkeypatch)
