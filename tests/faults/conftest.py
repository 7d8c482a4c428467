"""Fault tests kill services, so each module starts its own `make up` topology on free ports."""

from __future__ import annotations

import hashlib
import inspect
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest
from mlflow import MlflowClient
from prefect.settings import temporary_settings

from devenv.postgres import remove_data
from devenv.services import LocalServices, Ports
from flows.adapters.catalog import Catalog
from flows.contracts import DatasetVersion
from flows.logic.demo import generate_batch
from flows.settings import Settings
from flows.stages.ingest import ingest
from flows.stages.prepare import prepare
from tests.integration.conftest import Platform, deploy_flows, flush_prefect_clients
from tests.integration.helpers import land_frame

LANDING_BUCKET = "mlops-landing"
PREPARED_ROWS = 2000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults" in str(item.path):
            item.add_marker(pytest.mark.integration)


@contextmanager
def deployed_topology(root: Path, prefect_database: str = "sqlite") -> Iterator[LocalServices]:
    """MinIO, MLflow, Prefect server and a process worker (`make up`), prefect.yaml deployed, env set."""
    local = LocalServices(root, Ports.free(), prefect_database=prefect_database)
    try:
        local.up()
        deploy_flows(local)
        with pytest.MonkeyPatch.context() as monkeypatch:
            for key, value in local.client_env().items():
                monkeypatch.setenv(key, value)
            with temporary_settings(updates=local.prefect_settings()):
                yield local
                flush_prefect_clients()
    finally:
        local.down()
        remove_data(root)


class ServiceOutage:
    """A real service (`minio`, `mlflow`) stopped at the fault point and, when `back_after` is set,
    started again on the same port after that many seconds.

    `restarted_at` is read just before the service's process is spawned again: no client can reach the
    service before that moment, so "the stage ended after `restarted_at`" holds by cause and effect.
    `back_at` (when the harness's own health check first got an answer) is for the report only: a client
    retrying on its own may well reach the service before the harness does.
    """

    LABELS: ClassVar[dict[str, str]] = {"minio": "MinIO", "mlflow": "MLflow"}
    # The restart is the harness's part, not the code under test: a start that dies or hangs (once seen in
    # CI on a loaded machine, with no log left to say why) is retried, and each failure is reported.
    START_ATTEMPTS = 3

    def __init__(
        self, services: LocalServices, name: str, back_after: float | None, stop_timeout: float = 20
    ) -> None:
        self.services = services
        self.name = name
        self.back_after = back_after
        self.stop_timeout = stop_timeout
        self.stopped_at = 0.0
        self.restarted_at: float | None = None
        self.back_at: float | None = None
        self.failed_starts: list[str] = []
        self._thread: threading.Thread | None = None

    def __call__(self) -> None:
        self.services.stop(self.name, timeout=self.stop_timeout)
        self.stopped_at = time.monotonic()
        if self.back_after is not None:
            self._thread = threading.Thread(target=self._restart, daemon=True)
            self._thread.start()

    def _restart(self) -> None:
        assert self.back_after is not None
        time.sleep(self.back_after)
        start = getattr(self.services, f"start_{self.name}")
        for _ in range(self.START_ATTEMPTS):
            self.restarted_at = time.monotonic()
            try:
                start()
            except Exception as error:  # died while starting, never answered, or its set-up failed
                self.failed_starts.append(str(error))
                print(f"\n{self.LABELS[self.name]} restart failed: {error}")
                self.services.stop(self.name, timeout=self.stop_timeout)
                continue
            self.back_at = time.monotonic()
            return

    def join(self, timeout: float) -> None:
        """Wait for the restart; a service that never came back fails the test as such."""
        if self._thread is None:
            return
        self._thread.join(timeout=timeout)
        label = self.LABELS[self.name]
        assert not self._thread.is_alive(), f"{label} still restarting {timeout} s after the fault"
        assert self.back_at is not None, f"{label} not back {timeout} s after the fault: {self.failed_starts}"

    def ended_after_restart(self, ended: float) -> bool:
        """Whether a stage that ended at `ended` (monotonic) ended after the service was started again."""
        return self.restarted_at is not None and ended > self.restarted_at

    def report(self, fault: str, attempts: list[float], ended: float) -> None:
        down = (self.restarted_at or ended) - self.stopped_at
        after = f", done {ended - self.restarted_at:.1f} s after the restart" if self.restarted_at else ""
        restarts = f", {len(self.failed_starts)} failed restarts" if self.failed_starts else ""
        print(
            f"\nFAULT {fault}: {self.LABELS[self.name]} down {down:.1f} s{after}{restarts}; "
            f"{len(attempts)} attempts ({len(attempts) - 1} retries)"
        )


class FirstCall:
    """Runs `action` once, at the first call of a method, then lets the real call proceed.

    The fault point of a test: e.g. the first S3 upload of a `dvc push` stops the real MinIO.
    """

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action
        self.fired_at: float | None = None
        self._lock = threading.Lock()

    def fire(self) -> None:
        with self._lock:
            if self.fired_at is not None:
                return
            self.fired_at = time.monotonic()
        self.action()

    def install(self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> FirstCall:
        real = getattr(owner, name)
        if inspect.iscoroutinefunction(real):

            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                self.fire()
                return await real(*args, **kwargs)

            monkeypatch.setattr(owner, name, async_wrapper)
        else:

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                self.fire()
                return real(*args, **kwargs)

            monkeypatch.setattr(owner, name, wrapper)
        return self


def count_attempts(monkeypatch: pytest.MonkeyPatch, task: Any) -> list[float]:
    """The start time of every attempt of a Prefect task (its retries included), from now on."""
    starts: list[float] = []
    real = task.fn

    def counted(*args: Any, **kwargs: Any) -> Any:
        starts.append(time.monotonic())
        return real(*args, **kwargs)

    monkeypatch.setattr(task, "fn", counted)
    return starts


def registered_runs(settings: Settings) -> list[str]:
    """The run id of every registered version of the model, oldest first."""
    registry = MlflowClient(settings.resolved_tracking_uri, settings.resolved_tracking_uri)
    versions = registry.search_model_versions(f"name = '{settings.model_name}'")
    return [str(v.run_id) for v in sorted(versions, key=lambda v: int(v.version))]


def prepared_batch_1(platform: Platform) -> DatasetVersion:
    """Batch 1 landed, ingested and prepared inline: the dataset a train fault test starts from."""
    land_frame(platform, 1, generate_batch(1, PREPARED_ROWS))
    return prepare(ingest(1).raw_versions).dataset


def land(services: LocalServices, batches: range | list[int], rows: int) -> None:
    """Demo batches in the default landing bucket, where the worker's stages look."""
    s3 = services.s3_client()
    for batch in batches:
        body = generate_batch(batch, rows).to_csv(index=False).encode()
        s3.put_object(Bucket=LANDING_BUCKET, Key=f"loan-default/batch_{batch}.csv", Body=body)


def assert_nothing_lost(services: LocalServices, settings: Settings, model_versions: int) -> None:
    """Every catalog record's data verifies by md5 in the DVC remote; the registry holds `model_versions`."""
    catalog = fresh_catalog(settings)
    files = [v.file for v in catalog.raw_versions().values()] + [d.file for d in catalog.datasets()]
    assert files, "the catalog is empty"
    s3 = services.s3_client()
    bucket, _, prefix = settings.dvc_remote_url.removeprefix("s3://").partition("/")
    for file in files:
        assert _remote_md5(s3, bucket, prefix, file.md5) == file.md5.removesuffix(".dir"), file
        if file.md5.endswith(".dir"):  # a directory: its manifest verified, and then each part it lists
            manifest = json.loads(_remote_object(s3, bucket, prefix, file.md5))
            for entry in manifest:
                assert _remote_md5(s3, bucket, prefix, entry["md5"]) == entry["md5"], (file, entry)
    registry = MlflowClient(settings.resolved_tracking_uri, settings.resolved_tracking_uri)
    versions = registry.search_model_versions(f"name = '{settings.model_name}'")
    assert len(versions) == model_versions, [v.version for v in versions]


def fresh_catalog(settings: Settings) -> Catalog:
    """The catalog as the store holds it now (s3fs caches listings per process)."""
    catalog = Catalog(settings)
    catalog.fs.invalidate_cache()
    return catalog


def _remote_object(s3: object, bucket: str, prefix: str, md5: str) -> bytes:
    key = f"{prefix}/files/md5/{md5[:2]}/{md5[2:]}".lstrip("/")
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[attr-defined]
    return body


def _remote_md5(s3: object, bucket: str, prefix: str, md5: str) -> str:
    return hashlib.md5(_remote_object(s3, bucket, prefix, md5)).hexdigest()
