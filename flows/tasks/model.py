"""Prefect tasks for models: train + log + register in MLflow, load versions, record decisions."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: stage Jobs have no display

import matplotlib.pyplot as plt
import mlflow
import mlflow.xgboost
import numpy as np
import pandas as pd
import xgboost as xgb
from mlflow import MlflowClient
from mlflow.entities import DatasetInput, InputTag, Metric
from mlflow.entities.model_registry import ModelVersion
from mlflow.models import infer_signature
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.adapters.tracking import connect, model_versions, version_by_alias
from flows.contracts import DatasetVersion, EvaluationResult
from flows.logic.evaluation import GATE_DECISION_TAG, GATE_KEEP, GATE_PROMOTE, GateDecision, Metrics
from flows.logic.training import TrainedModel, fit, predict_proba, split_rows
from flows.settings import Settings
from flows.tasks.retry import IO_RETRIES

# uv-made environments have no pip; MLflow warns about that on every logged model.
logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    model_uri: str
    tags: dict[str, str]


TRAIN_KEY_TAG = "mlops.train_key"
MODEL_URI_TAG = "mlops.model_uri"


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def find_trained_version(train_key: str, settings: Settings) -> ModelVersion | None:
    """The registered version already trained from exactly these inputs, if any."""
    client = connect(settings)
    for version in model_versions(client, settings.model_name):
        if version.tags.get(TRAIN_KEY_TAG) == train_key:
            return version
    return None


@task(cache_policy=NO_CACHE)
def fit_model(dataset: pd.DataFrame, params: dict[str, Any]) -> TrainedModel:
    model = fit(dataset, params)
    get_run_logger().info(
        "trained: best iteration %d, valid ROC AUC %.4f", model.best_iteration, model.valid_roc_auc
    )
    return model


def data_input(version: DatasetVersion, frame: pd.DataFrame, settings: Settings, split: str = "") -> Any:
    """The dataset version in MLflow's own terms (its Dataset column): named (a split's rows by a name of
    their own: MLflow keeps one input per dataset and run), with the DVC md5 as its digest and the DVC object
    as its source, recorded without reading or hashing the data again."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    md5 = version.file.md5
    batches = (
        f"{version.batches[0]}-{version.batches[-1]}" if len(version.batches) > 1 else str(version.batches[0])
    )
    with warnings.catch_warnings():  # a local path "can be interpreted in multiple ways": all are local
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(f"{settings.dvc_remote_url}/files/md5/{md5[:2]}/{md5[2:]}")
    return MetaDataset(  # type: ignore[abstract]  # instantiable: MLflow's own way to record data by reference
        source=source,
        name=f"{settings.experiment_name}-batches-{batches}" + (f"-{split}" if split else ""),
        digest=md5,
        schema=infer_signature(frame.head(1)).inputs,
    )


def input_tags(version: DatasetVersion, split: str) -> dict[str, str]:
    rows = version.holdout_rows if split == "holdout" else version.rows
    return {"split": split, "rows": str(rows), "dvc.md5": version.file.md5, "dataset.key": version.key}


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def log_run(
    model: TrainedModel,
    dataset: pd.DataFrame,
    version: DatasetVersion,
    run_name: str,
    tags: dict[str, str],
    settings: Settings,
) -> LoggedRun:
    """One MLflow run with params, metrics, plot, its dataset (as an MLflow dataset input) and the model.

    An earlier attempt that lost the server mid-run left its run RUNNING (ending it needed the server):
    it is ended as FAILED first, so no half-logged run of these inputs looks alive.
    """
    client = connect(settings)
    if TRAIN_KEY_TAG in tags:
        _end_stale_runs(client, settings.experiment_name, tags[TRAIN_KEY_TAG])
    x_valid, _ = split_rows(dataset, "valid")
    example = x_valid.head(5)
    with mlflow.start_run(run_name=run_name, tags=tags) as run:
        mlflow.log_input(data_input(version, dataset, settings), "training", input_tags(version, "all"))
        mlflow.log_params({k: v for k, v in model.params.items() if k != "nthread"})
        mlflow.log_metrics(
            {
                "valid_roc_auc": model.valid_roc_auc,
                "best_iteration": model.best_iteration,
                "train_rows": model.train_rows,
                "valid_rows": model.valid_rows,
            }
        )
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("valid_auc_curve", v, 0, step) for step, v in enumerate(model.valid_curve)],
        )
        mlflow.log_figure(_importance_figure(model.booster), "feature_importance.png")
        info = mlflow.xgboost.log_model(
            model.booster,
            name="model",
            signature=infer_signature(example, predict_proba(model.booster, example)),
            input_example=example,
            pip_requirements=[f"xgboost=={xgb.__version__}"],
        )
        mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
    return LoggedRun(run.info.run_id, info.model_uri, tags | {MODEL_URI_TAG: info.model_uri})


def _end_stale_runs(client: MlflowClient, experiment_name: str, train_key: str) -> None:
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return
    stale = client.search_runs(
        [experiment.experiment_id],
        f"tags.`{TRAIN_KEY_TAG}` = '{train_key}' and attributes.status = 'RUNNING'",
    )
    for run in stale:
        client.set_terminated(run.info.run_id, "FAILED")


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def find_logged_run(train_key: str, settings: Settings) -> LoggedRun | None:
    """A finished run (registered or not) that already trained from exactly these inputs."""
    connect(settings)
    runs = mlflow.search_runs(
        experiment_names=[settings.experiment_name],
        filter_string=f"tags.`{TRAIN_KEY_TAG}` = '{train_key}' and attributes.status = 'FINISHED'",
        output_format="list",
    )
    for run in runs:
        if run.data.tags.get(MODEL_URI_TAG):
            return LoggedRun(run.info.run_id, run.data.tags[MODEL_URI_TAG], dict(run.data.tags))
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
    client.set_tag(run_id, "mlops.model_version", str(version.version))
    get_run_logger().info("registered %s version %s (run %s)", settings.model_name, version.version, run_id)
    return version


def _importance_figure(booster: xgb.Booster) -> Any:
    fig, ax = plt.subplots(figsize=(7, 6))
    xgb.plot_importance(
        booster,
        ax=ax,
        importance_type="gain",
        max_num_features=15,
        show_values=False,
        title="Feature importance (gain)",
    )
    fig.tight_layout()
    plt.close(fig)
    return fig


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def load_version(model_name: str, version: str, settings: Settings) -> ModelVersion:
    return connect(settings).get_model_version(model_name, version)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def champion(settings: Settings) -> ModelVersion | None:
    return version_by_alias(connect(settings), settings.model_name, settings.champion_alias)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def probabilities(version: ModelVersion, features: pd.DataFrame, settings: Settings) -> np.ndarray:
    """The registered version's predictions, loaded from the registry as any consumer would."""
    connect(settings)
    booster = mlflow.xgboost.load_model(f"models:/{version.name}/{version.version}")
    return predict_proba(booster, features)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def record_evaluation(
    version: ModelVersion,
    new: Metrics,
    champion_version: ModelVersion | None,
    champion_metrics: Metrics | None,
    decision: GateDecision,
    data: DatasetVersion,
    holdout: pd.DataFrame,
    settings: Settings,
) -> EvaluationResult:
    """The first evaluation of a version: the comparison (and the holdout it was made on) on its training
    run and as version tags, the decision `mlops promote` checks. Any later one is `record_reevaluation`'s."""
    client = connect(settings)
    metrics = _comparison_metrics(new, champion_metrics)
    assert version.run_id is not None
    client.log_batch(version.run_id, metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()])
    entity = data_input(data, holdout, settings, "holdout")._to_mlflow_entity()
    tags = [
        InputTag(k, v) for k, v in ({"mlflow.data.context": "holdout"} | input_tags(data, "holdout")).items()
    ]
    client.log_inputs(version.run_id, [DatasetInput(entity, tags)])
    for key, value in _gate_tags(new, champion_version, decision).items():
        client.set_model_version_tag(version.name, version.version, key, value)
        client.set_tag(version.run_id, key, value)
    return _evaluation_result(version, new, champion_version, champion_metrics, decision)


def _evaluation_result(
    version: ModelVersion,
    new: Metrics,
    champion_version: ModelVersion | None,
    champion_metrics: Metrics | None,
    decision: GateDecision,
) -> EvaluationResult:
    return EvaluationResult(
        model_name=version.name,
        model_version=str(version.version),
        metrics=new.as_dict(),
        champion_version=str(champion_version.version) if champion_version else None,
        champion_metrics=champion_metrics.as_dict() if champion_metrics else None,
        promote=decision.promote,
        reason=decision.reason,
    )


EVALUATION_OF_TAG = "mlops.evaluation_of"


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def record_reevaluation(
    version: ModelVersion,
    new: Metrics,
    champion_version: ModelVersion | None,
    champion_metrics: Metrics | None,
    decision: GateDecision,
    batch_number: int,
    data: DatasetVersion,
    holdout: pd.DataFrame,
    settings: Settings,
) -> EvaluationResult:
    """A repeated evaluation as a record of its own: an evaluation run in the experiment, tagged with the
    version it evaluated. The version and its training run keep the tags and metrics of their first
    evaluation, the decision `mlops promote` trusts: history is only ever added to."""
    connect(settings)
    metrics = _comparison_metrics(new, champion_metrics)
    tags = _gate_tags(new, champion_version, decision) | {
        EVALUATION_OF_TAG: f"{version.name}/{version.version}",
        "mlops.batch_number": str(batch_number),
    }
    with mlflow.start_run(run_name=f"evaluation-v{version.version}-batch-{batch_number}", tags=tags):
        mlflow.log_input(
            data_input(data, holdout, settings, "holdout"), "holdout", input_tags(data, "holdout")
        )
        mlflow.log_metrics(metrics)
    return _evaluation_result(version, new, champion_version, champion_metrics, decision)


def _comparison_metrics(new: Metrics, champion_metrics: Metrics | None) -> dict[str, float]:
    """The new version's holdout metrics and, beside them, the champion's on the same holdout."""
    metrics = new.as_dict("holdout_")
    if champion_metrics is not None:
        metrics |= champion_metrics.as_dict("champion_holdout_")
    return metrics


def _gate_tags(new: Metrics, champion_version: ModelVersion | None, decision: GateDecision) -> dict[str, str]:
    return {
        GATE_DECISION_TAG: GATE_PROMOTE if decision.promote else GATE_KEEP,
        "gate.reason": decision.reason,
        "gate.margin": str(decision.margin),
        "gate.champion_version": str(champion_version.version) if champion_version else "",
        "holdout.roc_auc": f"{new.roc_auc:.6f}",
    }


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def set_champion(model_name: str, version: str, settings: Settings) -> None:
    connect(settings).set_registered_model_alias(model_name, settings.champion_alias, version)
