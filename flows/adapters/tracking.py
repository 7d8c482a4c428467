"""MLflow set-up and registry look-ups shared by the model stages."""

from __future__ import annotations

import os

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from flows.settings import Settings

# MLflow 3's UI opens an experiment as its kind says; unmarked, it guesses the GenAI view (traces), not runs.
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}


def connect(settings: Settings) -> MlflowClient:
    """Point MLflow at the configured server (or local SQLite) and make sure the experiment exists."""
    # MLflow reads its client's retry policy from the environment, on every request.
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(settings.mlflow_http_retries)
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = str(settings.mlflow_http_backoff_factor)
    uri = settings.resolved_tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if client.get_experiment_by_name(settings.experiment_name) is None:
        artifact_location = None
        if settings.mode == "embedded":  # a server proxies artifacts itself
            settings.local_artifact_root.mkdir(parents=True, exist_ok=True)
            artifact_location = settings.local_artifact_root.as_uri()
        try:
            client.create_experiment(
                settings.experiment_name, artifact_location=artifact_location, tags=EXPERIMENT_TAGS
            )
        except MlflowException:
            if client.get_experiment_by_name(settings.experiment_name) is None:
                raise  # not a lost race with another stage
    mlflow.set_experiment(settings.experiment_name)
    return client


def model_versions(client: MlflowClient, name: str, run_id: str | None = None) -> list[ModelVersion]:
    """All versions of a registered model (of one run, when given); none when it is not registered yet.

    A registry that cannot be reached raises: taken for "no versions", it made train register again.
    """
    query = f"name = '{name}'" + (f" and run_id = '{run_id}'" if run_id else "")
    try:
        return list(client.search_model_versions(query))
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return []
        raise


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc).lower():
            return None
        raise
