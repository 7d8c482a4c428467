"""Train: pull the dataset by hash, fit XGBoost, log everything to MLflow, register a version."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.adapters.code_version import code_version
from flows.contracts import DatasetVersion, TrainResult
from flows.logic.lineage import lineage_tags
from flows.logic.training import train_key, training_params
from flows.settings import get_settings
from flows.stages.runner import publish
from flows.stages.workspace import stage_workspace
from flows.tasks import data, model
from flows.tasks.model import TRAIN_KEY_TAG


@flow(name="train", log_prints=True)
def train(dataset: DatasetVersion, batch_number: int, params: dict[str, Any] | None = None) -> TrainResult:
    settings = get_settings()
    version_of_code = code_version(settings.code_version)
    full_params = training_params(settings.seed, params)
    key = train_key(dataset.file.md5, full_params, version_of_code)
    existing = model.find_trained_version(key, settings)
    if existing is not None:
        get_run_logger().info("version %s was trained from the same inputs: reusing it", existing.version)
        return publish(
            _result(
                existing.run_id or "",
                settings.model_name,
                str(existing.version),
                dataset,
                existing.tags,
                reused=True,
            ),
            settings,
        )
    with stage_workspace("train", settings) as workspace:
        frame = data.fetch_frame(dataset.file, "dataset.parquet", workspace, settings)
    trained = model.fit_model(frame, full_params)
    tags = lineage_tags(
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
        "best_iteration": str(trained.best_iteration),
        "valid_roc_auc": f"{trained.valid_roc_auc:.6f}",
    }
    version = model.log_and_register(trained, frame, f"batch-{batch_number}-{key[:8]}", tags, settings)
    return publish(
        _result(
            version.run_id or "",
            settings.model_name,
            str(version.version),
            dataset,
            version.tags or tags,
            reused=False,
            pulled=[dataset.file.md5],
        ),
        settings,
    )


def _result(
    run_id: str,
    name: str,
    version: str,
    dataset: DatasetVersion,
    tags: dict[str, str],
    reused: bool,
    pulled: list[str] | None = None,
) -> TrainResult:
    return TrainResult(
        run_id=run_id,
        model_name=name,
        model_version=version,
        dataset_md5=dataset.file.md5,
        best_iteration=int(tags.get("best_iteration", "0")),
        valid_roc_auc=float(tags.get("valid_roc_auc", "nan")),
        reused=reused,
        pulled_md5s=pulled or [],
    )
