"""Train: fit XGBoost on the dataset, log everything (the model included) to MLflow's experiment.

The local engine pulls the dataset by hash into this process, once a preflight found that it fits in its
memory; the dask engine (`MLOPS_TRAIN_ENGINE=dask`) boosts with xgboost.dask on a Dask cluster whose workers
read the dataset from the DVC remote themselves.

Train never writes to the model registry: its identity may not (README, "MLflow roles"). Evaluate registers
the run's model as a version, and promote moves the champion. With several hyperparameter candidates, each is
its own train run, all are logged, and the best on the validation split goes on to evaluate (`best_of`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import pandas as pd
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.adapters import dask_engine
from flows.adapters.code_version import code_version
from flows.adapters.cpu import cpu_budget
from flows.adapters.datasets import definition_path, fetch_definition_source
from flows.adapters.dvc_store import dataset_path
from flows.adapters.parquet import read_parquet
from flows.contracts import DatasetVersion, DefinitionRef, TrainResult
from flows.feature_code import DerivedFeatures, derive, derived_function
from flows.logic.definition import DatasetDefinition
from flows.logic.lineage import lineage_tags
from flows.logic.preflight import MemoryPreflightError
from flows.logic.tag_names import (
    LINEAGE_DEVICE_TAG,
    LINEAGE_ENGINE_TAG,
    LINEAGE_WORKERS_TAG,
    THREADS_TAG,
    TRAIN_KEY_TAG,
)
from flows.logic.training import (
    TrainedModel,
    best_candidate,
    higher_is_better,
    train_key,
    training_params,
)
from flows.settings import Settings
from flows.stages.runner import publish, stage_settings
from flows.stages.workspace import stage_workspace
from flows.tasks import data, model
from flows.tasks.model import LoggedRun

if TYPE_CHECKING:
    from distributed import Client


@flow(name="train", log_prints=True)
def train(
    dataset: DatasetVersion,
    batch_number: int,
    definition: DefinitionRef | None = None,
    params: dict[str, Any] | None = None,
) -> TrainResult:
    settings, definition = stage_settings(definition)
    logger = get_run_logger()
    declared, text, features = fetch_definition_source(definition, settings)
    version_of_code = code_version(settings.code_version)
    full_params = training_params(declared, params, threads=cpu_budget(), device=settings.device)
    with _engine(settings) as cluster:
        workers = 1 if cluster is None else dask_engine.worker_count(cluster)
        key = train_key(
            dataset.file.md5,
            full_params,
            definition.sha256 + definition.features_sha256,
            declared,
            version_of_code,
            settings.train_engine,
            workers,
        )
        pulled: list[str] = []
        found = model.find_logged_run(key, settings)
        if found is not None:
            logger.info("run %s was trained from the same inputs: reusing it", found.run_id)
            logged = found
        else:
            function = derived_function(declared, definition_path(definition.name, settings).parent, features)
            if cluster is None:
                trained, sample = _fit_here(dataset, declared, full_params, function, settings)
            else:
                logger.info("training on the Dask cluster %s: %d worker(s)", cluster.dashboard_link, workers)
                trained, sample = _fit_on_cluster(cluster, dataset, declared, full_params, function, settings)
            pulled = [dataset.file.md5]
            tags = lineage_tags(
                dataset=definition.name,
                definition_sha256=definition.sha256,
                batch_number=batch_number,
                batches=dataset.batches,
                raw_md5s=dataset.raw_md5s,
                dataset_md5=dataset.file.md5,
                dataset_key=dataset.key,
                code_version=version_of_code,
                flow_run_id=str(flow_run.id or ""),
                pipeline_run_id=str(flow_run.root_flow_run_id or flow_run.id or ""),
            ) | {
                LINEAGE_ENGINE_TAG: settings.train_engine,
                LINEAGE_WORKERS_TAG: str(workers),
                LINEAGE_DEVICE_TAG: settings.device,
                TRAIN_KEY_TAG: key,
                THREADS_TAG: str(full_params["nthread"]),  # what `mlops reproduce` needs to match it exactly
                "best_iteration": str(trained.best_iteration),
                "valid_metric": trained.valid_metric,
                "valid_score": f"{trained.valid_score:.6f}",
            }
            logged = model.log_run(
                trained,
                sample,
                declared,
                text,
                features,
                dataset,
                data.batch_reports(dataset.batches, settings),
                f"batch-{batch_number}-{key[:8]}",
                tags,
                settings,
            )
    return publish(_result(logged, dataset, settings, reused=found is not None, pulled=pulled), settings)


def _engine(settings: Settings) -> AbstractContextManager[Client | None]:
    """The Dask cluster's client with the dask engine; nothing with the local one."""
    if settings.train_engine == "dask":
        return dask_engine.dask_client(settings.dask_address, settings.dask_workers)
    return nullcontext()


def _fit_here(
    dataset: DatasetVersion,
    declared: DatasetDefinition,
    params: dict[str, Any],
    function: DerivedFeatures | None,
    settings: Settings,
) -> tuple[TrainedModel, pd.DataFrame]:
    """The local engine: the dataset pulled by md5 into this process, after a preflight of its memory."""
    with stage_workspace("train", settings) as workspace:
        path = data.pull_file(dataset.file, dataset_path(dataset.file), workspace, settings)
        data.check_memory(path, dataset.rows, declared, function, settings)
        frame = read_parquet(path)
    derived = None if function is None else derive(function, frame, declared)
    return model.fit_model(frame, declared, params, derived), frame


def _fit_on_cluster(
    cluster: Client,
    dataset: DatasetVersion,
    declared: DatasetDefinition,
    params: dict[str, Any],
    function: DerivedFeatures | None,
    settings: Settings,
) -> tuple[TrainedModel, pd.DataFrame]:
    """The dask engine: the workers read the dataset's parts from the DVC remote by their md5s."""
    workers = dask_engine.worker_count(cluster)
    get_run_logger().info("dask cluster %s: %d workers", settings.dask_address, workers)
    files = dask_engine.dataset_parts(dataset.file, settings)
    refusal = dask_engine.cluster_memory_refusal(cluster, files, dataset.rows, declared, function, settings)
    if refusal:
        raise MemoryPreflightError(refusal)
    parts = dask_engine.load_dataset(cluster, files, settings)
    trained = dask_engine.fit_on_cluster(cluster, parts, declared, params, function)
    get_run_logger().info(
        "trained on %d partitions: best iteration %d, valid %s %.4f",
        parts.npartitions,
        trained.best_iteration,
        trained.valid_metric,
        trained.valid_score,
    )
    return trained, dask_engine.sample_rows(parts)


def best_of(candidates: list[TrainResult]) -> TrainResult:
    """The candidate with the best validation score: the one evaluate registers."""
    maximize = bool(candidates) and higher_is_better(candidates[0].valid_metric)
    best = candidates[best_candidate([c.valid_score for c in candidates], maximize)]
    get_run_logger().info(
        "best of %d candidates: run %s (valid %s %.4f)",
        len(candidates),
        best.run_id,
        best.valid_metric,
        best.valid_score,
    )
    return best


def _result(
    logged: LoggedRun,
    dataset: DatasetVersion,
    settings: Settings,
    reused: bool,
    pulled: list[str] | None = None,
) -> TrainResult:
    return TrainResult(
        run_id=logged.run_id,
        model_name=settings.model_name,
        model_uri=logged.model_uri,
        train_key=logged.tags.get(TRAIN_KEY_TAG, ""),
        dataset_md5=dataset.file.md5,
        best_iteration=int(logged.tags.get("best_iteration", "0")),
        valid_metric=logged.tags.get("valid_metric", ""),
        valid_score=float(logged.tags.get("valid_score", "nan")),
        reused=reused,
        pulled_md5s=pulled or [],
    )
