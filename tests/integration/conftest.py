"""Session-wide real services (MinIO, MLflow server, Prefect API) and a fresh namespace per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.settings import Settings
from tests.integration.services import Minio, MlflowServer, start_minio, start_mlflow

DATA_BUCKET, LANDING_BUCKET, ARTIFACT_BUCKET = "mlops-data", "mlops-landing", "mlflow-artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def services_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def minio(services_root: Path) -> Iterator[Minio]:
    server = start_minio(services_root, [DATA_BUCKET, LANDING_BUCKET, ARTIFACT_BUCKET])
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlflow_server(services_root: Path, minio: Minio) -> Iterator[MlflowServer]:
    server = start_mlflow(services_root, minio, ARTIFACT_BUCKET)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@dataclass
class Platform:
    """One isolated tenant of the shared services: its own prefixes, experiment and model."""

    settings: Settings
    minio: Minio
    tracking_uri: str
    data_prefix: str
    landing_prefix: str


def new_platform(
    root: Path, minio: Minio, mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> Platform:
    """Point the environment (and so every stage's settings) at a fresh tenant of the services."""
    tenant = uuid.uuid4().hex[:10]
    env = {
        "MLOPS_HOME": str(root / "home"),
        "MLOPS_LANDING_URL": f"s3://{LANDING_BUCKET}/{tenant}",
        "MLOPS_DATA_URL": f"s3://{DATA_BUCKET}/{tenant}",
        "MLOPS_MLFLOW_TRACKING_URI": mlflow_server.url,
        "MLOPS_S3_ENDPOINT_URL": minio.endpoint,
        "MLOPS_EXPERIMENT_NAME": f"exp-{tenant}",
        "MLOPS_MODEL_NAME": f"model-{tenant}",
        "AWS_ACCESS_KEY_ID": minio.access_key,
        "AWS_SECRET_ACCESS_KEY": minio.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Platform(Settings(), minio, mlflow_server.url, tenant, tenant)


@pytest.fixture
def platform(
    minio: Minio,
    mlflow_server: MlflowServer,
    prefect_api: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Platform:
    return new_platform(tmp_path, minio, mlflow_server, monkeypatch)


@pytest.fixture(scope="module")
def module_platform(
    minio: Minio, mlflow_server: MlflowServer, prefect_api: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    """A tenant shared by one module's tests (for expensive set-ups such as a 3-batch run)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield new_platform(tmp_path_factory.mktemp("module"), minio, mlflow_server, monkeypatch)
