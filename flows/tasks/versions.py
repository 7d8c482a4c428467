"""Registered versions of the model: the one trained from a key, a run's model registered as a new version,
and the champion alias. Apart from the model code, so that promote's process imports MLflow's client alone."""

from __future__ import annotations

import mlflow
from mlflow.entities.model_registry import ModelVersion
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.adapters.tracking import connect, model_versions, version_by_alias
from flows.logic.tag_names import MODEL_VERSION_TAG, TRAIN_KEY_TAG
from flows.settings import Settings
from flows.tasks.retry import IO_RETRIES

# The hash of everything that shaped a model (flows.logic.training.train_key), on its run and version.


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def find_trained_version(train_key: str, settings: Settings) -> ModelVersion | None:
    """The registered version already trained from exactly these inputs, if any."""
    client = connect(settings)
    for version in model_versions(client, settings.model_name):
        if version.tags.get(TRAIN_KEY_TAG) == train_key:
            return version
    return None


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def register(run_id: str, model_uri: str, settings: Settings) -> ModelVersion:
    """Register the run's model as a new version, in one call carrying the run's lineage tags.

    Registration is the last write of training, so a failure before it leaves no version. A retry after
    the version was created (and the server went away before the run was tagged) reuses that version.
    """
    client = connect(settings)
    existing = model_versions(client, settings.model_name, run_id)
    if existing:
        version = min(existing, key=lambda v: int(v.version))
    else:
        tags = {k: v for k, v in client.get_run(run_id).data.tags.items() if not k.startswith("mlflow.")}
        version = mlflow.register_model(model_uri, settings.model_name, tags=tags)
    client.set_tag(run_id, MODEL_VERSION_TAG, str(version.version))
    get_run_logger().info("registered %s version %s (run %s)", settings.model_name, version.version, run_id)
    return version


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def load_version(model_name: str, version: str, settings: Settings) -> ModelVersion:
    return connect(settings).get_model_version(model_name, version)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def champion(settings: Settings) -> ModelVersion | None:
    return version_by_alias(connect(settings), settings.model_name, settings.champion_alias)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def set_champion(model_name: str, version: str, settings: Settings) -> None:
    connect(settings).set_registered_model_alias(model_name, settings.champion_alias, version)
