"""Train: pull the dataset by hash, fit XGBoost, log everything (the model included) to MLflow's experiment.

Train never writes to the model registry: its identity may not (README, "MLflow roles"). Evaluate registers
the run's model as a version, and promote moves the champion. With several hyperparameter candidates, each is
its own train run, all are logged, and the best on the validation split goes on to evaluate (`best_of`).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.adapters.code_version import code_version
from flows.adapters.cpu import cpu_budget
from flows.adapters.datasets import definition_path, fetch_definition_source
from flows.contracts import DatasetVersion, DefinitionRef, TrainResult
from flows.feature_code import derive, derived_function
from flows.logic.lineage import lineage_tags
from flows.logic.tag_names import THREADS_TAG, TRAIN_KEY_TAG
from flows.logic.training import best_candidate, higher_is_better, train_key, training_params
from flows.settings import Settings
from flows.stages.runner import publish, stage_settings
from flows.stages.workspace import stage_workspace
from flows.tasks import data, model
from flows.tasks.model import LoggedRun


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
    full_params = training_params(declared, params, threads=cpu_budget())
    key = train_key(
        dataset.file.md5,
        full_params,
        definition.sha256 + definition.features_sha256,
        declared,
        version_of_code,
    )
    pulled: list[str] = []
    found = model.find_logged_run(key, settings)
    if found is not None:
        logger.info("run %s was trained from the same inputs: reusing it", found.run_id)
        logged = found
    else:
        with stage_workspace("train", settings) as workspace:
            frame = data.fetch_frame(dataset.file, "dataset.parquet", workspace, settings)
        pulled = [dataset.file.md5]
        function = derived_function(declared, definition_path(definition.name, settings).parent, features)
        derived = None if function is None else derive(function, frame, declared)
        trained = model.fit_model(frame, declared, full_params, derived)
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
            TRAIN_KEY_TAG: key,
            THREADS_TAG: str(full_params["nthread"]),  # what `mlops reproduce` needs to match it exactly
            "best_iteration": str(trained.best_iteration),
            "valid_metric": trained.valid_metric,
            "valid_score": f"{trained.valid_score:.6f}",
        }
        logged = model.log_run(
            trained,
            frame,
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
