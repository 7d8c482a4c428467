"""Issue 7, item 2: the real MLflow server stops while train logs its model and while evaluate registers it.

Two fault points: right before train logs the model (the run has params, metrics and a plot), and right
after the registry created the version, before evaluate tags the run with it (a retry of the registration
from there could register the same run twice). MLflow's client retries each request for ~31 s
(settings.mlflow_http_retries), which rides out a restart; the down-for-good cases set it to 0 so the
task retries alone decide, and a run then ends with exactly one version or fails with nothing new.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pytest
from mlflow import MlflowClient

from devenv.services import LocalServices
from flows.contracts import TrainResult
from flows.logic.tag_names import TRAIN_KEY_TAG
from flows.stages.evaluate import evaluate
from flows.stages.train import train
from flows.tasks import model, versions
from tests.faults.conftest import (
    FirstCall,
    ServiceOutage,
    assert_nothing_lost,
    count_attempts,
    prepared_batch_1,
    registered_runs,
)
from tests.integration.conftest import Platform, new_platform, service_processes

# MLflow is started again at once: the outage is its stop (SIGTERM, then SIGKILL after 3 s) plus its
# start-up (20-30 s here, 150 s seen with a neighbour busy on both cores).
OUTAGE_SECONDS = 0.0
# For the restart cases: MLflow's client waits up to ~2 min per request (backoff 1, 2, ... 64 s), and the
# task retries it 3 times, so a restart on a loaded machine is inside the window (the default 5 is ~31 s).
RESTART_WINDOW_RETRIES = "7"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServices]:
    with service_processes(tmp_path_factory.mktemp("mlflow-faults")) as local:
        yield local


@pytest.fixture
def platform(services: LocalServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    yield new_platform(tmp_path, services, monkeypatch)
    services.start_mlflow()  # a test that left it down must not take the next one with it


def stop_after_version_created(monkeypatch: pytest.MonkeyPatch, outage: ServiceOutage) -> list[str]:
    """MLflow stops once the registry has created the first version (the next call finds it down)."""
    created: list[str] = []
    real = MlflowClient._create_model_version

    def create_then_stop(self: MlflowClient, *args: Any, **kwargs: Any) -> Any:
        version = real(self, *args, **kwargs)
        created.append(str(version.version))
        if len(created) == 1:
            outage()
        return version

    monkeypatch.setattr(MlflowClient, "_create_model_version", create_then_stop)
    return created


def runs_of_key(platform: Platform, train_key: str) -> dict[str, str]:
    """run id -> status of every run that trained from this key."""
    client = MlflowClient(platform.tracking_uri)
    experiment = client.get_experiment_by_name(platform.settings.experiment_name)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], f"tags.`{TRAIN_KEY_TAG}` = '{train_key}'")
    return {run.info.run_id: run.info.status for run in runs}


def assert_one_finished_run(platform: Platform, services: LocalServices, trained: TrainResult) -> None:
    """The trained run FINISHED, no run of its key was left RUNNING, and train registered nothing."""
    runs = runs_of_key(platform, trained.train_key)
    assert runs[trained.run_id] == "FINISHED"
    assert "RUNNING" not in runs.values(), f"an orphan run left running: {runs}"
    assert_nothing_lost(services, platform.settings, model_versions=0)


def test_registration_survives_mlflow_restart(
    platform: Platform, services: LocalServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = prepared_batch_1(platform)
    monkeypatch.setenv("MLOPS_MLFLOW_HTTP_RETRIES", RESTART_WINDOW_RETRIES)
    attempts = count_attempts(monkeypatch, versions.register)
    outage = ServiceOutage(services, "mlflow", OUTAGE_SECONDS, stop_timeout=3)
    created = stop_after_version_created(monkeypatch, outage)
    trained = train(dataset, 1)

    evaluation = evaluate(trained, dataset, 1)
    ended = time.monotonic()
    outage.join(timeout=120)

    assert created == ["1"], "the fault was not injected after the version was created, or twice"
    assert registered_runs(platform.settings) == [trained.run_id], "a duplicate version for the run"
    assert evaluation.model_version == "1"
    tags = MlflowClient(platform.tracking_uri).get_run(trained.run_id).data.tags
    assert tags["mlops.model_version"] == "1"
    assert_nothing_lost(services, platform.settings, model_versions=1)
    outage.report("registration, after the version was created, back at once", attempts, ended)


def test_registration_retried_after_the_version_was_created_adds_no_version(
    platform: Platform, services: LocalServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = prepared_batch_1(platform)
    monkeypatch.setenv("MLOPS_MLFLOW_HTTP_RETRIES", "0")  # the task's retries alone
    outage = ServiceOutage(services, "mlflow", None, stop_timeout=3)
    trained = train(dataset, 1)
    with pytest.MonkeyPatch.context() as fault_point:
        attempts = count_attempts(fault_point, versions.register)
        created = stop_after_version_created(fault_point, outage)
        with pytest.raises(Exception, match=services.mlflow_url.removeprefix("http://")):
            evaluate(trained, dataset, 1)
    ended = time.monotonic()

    assert created == ["1"]
    assert len(attempts) == 4, "not 1 attempt + 3 retries"
    services.start_mlflow()
    # The version was created, complete with its lineage, before the server went away.
    [run_id] = registered_runs(platform.settings)
    logged = MlflowClient(platform.tracking_uri).get_run(run_id)
    # Registering again, as the next retry does once the server is back, finds that version.
    again = versions.register(run_id, logged.data.tags["mlops.model_uri"], platform.settings)
    assert str(again.version) == "1"
    # And a re-run of the stages reuses the run and the version.
    trained = train(dataset, 1)
    assert trained.reused and evaluate(trained, dataset, 1).model_version == "1"
    assert registered_runs(platform.settings) == [run_id]
    assert_nothing_lost(services, platform.settings, model_versions=1)
    outage.report("registration, after the version was created, down for good", attempts, ended)


def test_logging_survives_mlflow_restart(
    platform: Platform, services: LocalServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = prepared_batch_1(platform)
    monkeypatch.setenv("MLOPS_MLFLOW_HTTP_RETRIES", RESTART_WINDOW_RETRIES)
    attempts = count_attempts(monkeypatch, model.log_run)
    outage = ServiceOutage(services, "mlflow", OUTAGE_SECONDS, stop_timeout=3)
    fault = FirstCall(outage).install(monkeypatch, mlflow.pyfunc, "log_model")

    trained = train(dataset, 1)
    ended = time.monotonic()
    outage.join(timeout=120)

    assert fault.fired_at is not None
    assert_one_finished_run(platform, services, trained)
    outage.report("model logging, back at once", attempts, ended)


def test_logging_fails_cleanly_when_mlflow_stays_down(
    platform: Platform, services: LocalServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = prepared_batch_1(platform)
    monkeypatch.setenv("MLOPS_MLFLOW_HTTP_RETRIES", "0")  # the task's retries alone
    outage = ServiceOutage(services, "mlflow", None, stop_timeout=3)
    with pytest.MonkeyPatch.context() as fault_point:
        attempts = count_attempts(fault_point, model.log_run)
        fault = FirstCall(outage).install(fault_point, mlflow.pyfunc, "log_model")
        with pytest.raises(Exception, match=services.mlflow_url.removeprefix("http://")):
            train(dataset, 1)
    ended = time.monotonic()

    assert fault.fired_at is not None
    assert len(attempts) == 4, "not 1 attempt + 3 retries"
    services.start_mlflow()
    assert registered_runs(platform.settings) == []
    # The pipeline's answer to a failed stage: run it again once MLflow is back.
    trained = train(dataset, 1)
    assert_one_finished_run(platform, services, trained)
    outage.report("model logging, down for good", attempts, ended)
