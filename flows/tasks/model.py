"""Prefect tasks for models: train + log + register in MLflow, load versions, record decisions."""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: stage Jobs have no display

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
import xgboost as xgb
import yaml
from mlflow import MlflowClient
from mlflow.entities import DatasetInput, InputTag, Metric
from mlflow.entities.model_registry import ModelVersion
from mlflow.models import ModelSignature, infer_signature
from mlflow.types.schema import AnyType, ColSpec, Schema
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

import flows
from flows import raw_row_model
from flows.adapters.tracking import connect, model_versions
from flows.contracts import DatasetVersion, EvaluationResult
from flows.feature_code import derived_function
from flows.logic.data_report import BatchReports, cdf, profiled_columns, shares
from flows.logic.definition import ColumnSpec, DatasetDefinition
from flows.logic.evaluation import GATE_KEEP, GATE_PROMOTE, GateDecision, Metrics
from flows.logic.features import SPLIT_COLUMN
from flows.logic.tag_names import (
    BATCH_NUMBER_TAG,
    EVALUATION_OF_TAG,
    GATE_CHAMPION_VERSION_TAG,
    GATE_DATA_REPORT_TAG,
    GATE_DECISION_TAG,
    GATE_MARGIN_TAG,
    GATE_REASON_TAG,
    LINEAGE_BATCH_NUMBER_TAG,
    MODEL_URI_TAG,
    TRAIN_KEY_TAG,
)
from flows.logic.training import TrainedModel, fit
from flows.settings import Settings
from flows.tasks.retry import IO_RETRIES

# uv-made environments have no pip; MLflow warns about that on every logged model, and says at INFO that it
# checks the input example against the signature it was just given.
logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
logging.getLogger("mlflow.pyfunc").setLevel(logging.WARNING)
logging.getLogger("mlflow.utils.uv_utils").setLevel(logging.WARNING)


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    model_uri: str
    tags: dict[str, str]


# The data report of the batches a run trained on (each batch's, from its ingestion), logged with the run;
# the gate's decision links to it.
DATA_REPORT_FILE = "data_report.json"
EVALUATION_PLOTS, HISTORY_PLOT = "evaluation.png", "holdout_history.png"


@task(cache_policy=NO_CACHE)
def fit_model(
    dataset: pd.DataFrame,
    definition: DatasetDefinition,
    params: dict[str, Any],
    derived: pd.DataFrame | None,
) -> TrainedModel:
    model = fit(dataset, definition, params, derived)
    get_run_logger().info(
        "trained: best iteration %d, valid %s %.4f",
        model.best_iteration,
        model.valid_metric,
        model.valid_score,
    )
    return model


# The modules the registered model imports (flows/raw_row_model.py's own imports), shipped with it.
MODEL_CODE = (
    "__init__.py",
    "feature_code.py",
    "logic/__init__.py",
    "logic/definition.py",
    "logic/features.py",
    "logic/refusal.py",
    "logic/training.py",
)


def _column_type(column: ColumnSpec) -> Any:
    """A raw column's type in the model's signature. MLflow refuses to turn int64 into double, and a null
    into a long or a boolean, so an integer or boolean column that may be null takes any value (a file's
    column of whole numbers reads as int64 without a null, as float64 with one); one that may not is a long
    or a boolean; a number is a double (a pandas client sends floats; the scoring server converts JSON)."""
    if column.type in ("integer", "boolean") and column.nullable:
        return AnyType()
    return {"integer": "long", "number": "double", "boolean": "boolean"}.get(column.type, "string")


def input_schema(definition: DatasetDefinition) -> Schema:
    """The raw columns a served model takes (all but label, id, weight and group), typed."""
    return Schema([ColSpec(_column_type(definition.column(n)), n) for n in definition.feature_columns])


def _output_schema(example: pd.DataFrame, output: Any) -> Any:
    with warnings.catch_warnings():  # its hint on integer inputs is about the inputs, typed apart above
        warnings.simplefilter("ignore", UserWarning)
        return infer_signature(example, output).outputs


def input_example(rows: pd.DataFrame, definition: DatasetDefinition) -> pd.DataFrame:
    example = rows.loc[:, definition.feature_columns].head(5).reset_index(drop=True)
    for name in definition.feature_columns:
        if definition.column(name).type == "number":
            example[name] = example[name].astype("float64")
    return example


def _stage_model_code(target: Path, derived_module: str | None) -> Path:
    """A copy of the modules the model imports, as a `flows` package of its own (and a derived-feature
    module inside `flows`, when the definition names one)."""
    source = Path(flows.__file__).parent
    wanted = list(MODEL_CODE)
    if derived_module and derived_module.startswith("flows."):
        wanted.append(derived_module.removeprefix("flows.").replace(".", "/") + ".py")
    for relative in wanted:
        (target / "flows" / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, target / "flows" / relative)
    return target / "flows"


def log_model(
    model: TrainedModel,
    definition: DatasetDefinition,
    definition_text: str,
    features_file: Path | None,
    example_rows: pd.DataFrame,
) -> Any:
    """The model as a raw-row pyfunc (flows/raw_row_model.py) with its booster, definition and feature code;
    its signature is the raw columns, typed, and what it answers for them."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        booster = folder / "booster.ubj"
        model.booster.save_model(booster)
        (folder / "dataset.yaml").write_text(definition_text)
        artifacts = {
            raw_row_model.BOOSTER: str(booster),
            raw_row_model.DEFINITION: str(folder / "dataset.yaml"),
        }
        if features_file is not None:
            artifacts[raw_row_model.FEATURES] = str(features_file)
        derived_module = definition.features.derived.split(":")[0] if definition.features.derived else None
        code = _stage_model_code(folder / "code", derived_module)
        example = input_example(example_rows, definition)
        scorer = raw_row_model.RawRowModel()
        scorer.definition, scorer.booster = definition, model.booster
        scorer.derived = derived_function(definition, folder, features_file)
        output = scorer.predict(None, example)
        signature = ModelSignature(inputs=input_schema(definition), outputs=_output_schema(example, output))
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=raw_row_model.__file__,
            artifacts=artifacts,
            code_paths=[str(code)],
            signature=signature,
            input_example=example,
            pip_requirements=[
                f"mlflow=={mlflow.__version__}",
                f"xgboost=={xgb.__version__}",
                f"pandas=={pd.__version__}",
                f"pyyaml=={yaml.__version__}",
                "pydantic>=2",
            ],
        )


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
    with warnings.catch_warnings():  # a local path "can be interpreted in multiple ways": all are local;
        warnings.simplefilter("ignore", UserWarning)  # integer columns get a hint meant for model inputs
        source = resolve_dataset_source(f"{settings.dvc_remote_url}/files/md5/{md5[:2]}/{md5[2:]}")
        schema = infer_signature(frame.head(1)).inputs
    return MetaDataset(  # type: ignore[abstract]  # instantiable: MLflow's own way to record data by reference
        source=source,
        name=f"{settings.experiment_name}-batches-{batches}" + (f"-{split}" if split else ""),
        digest=md5,
        schema=schema,
    )


def input_tags(version: DatasetVersion, split: str) -> dict[str, str]:
    rows = version.holdout_rows if split == "holdout" else version.rows
    return {"split": split, "rows": str(rows), "dvc.md5": version.file.md5, "dataset.key": version.key}


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def log_run(
    model: TrainedModel,
    dataset: pd.DataFrame,
    definition: DatasetDefinition,
    definition_text: str,
    features_file: Path | None,
    version: DatasetVersion,
    reports: BatchReports,
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
    example = dataset[dataset[SPLIT_COLUMN] == "valid"]
    with mlflow.start_run(run_name=run_name, tags=tags) as run:
        mlflow.log_input(data_input(version, dataset, settings), "training", input_tags(version, "all"))
        mlflow.log_params({k: v for k, v in model.params.items() if k != "nthread"})
        mlflow.log_metrics(
            {
                f"valid_{model.valid_metric}": model.valid_score,
                "best_iteration": model.best_iteration,
                "train_rows": model.train_rows,
                "valid_rows": model.valid_rows,
            }
        )
        client.log_batch(
            run.info.run_id,
            metrics=[
                Metric(f"valid_{model.valid_metric}_curve", v, 0, step)
                for step, v in enumerate(model.valid_curve)
            ],
        )
        mlflow.log_figure(_importance_figure(model.booster), "feature_importance.png")
        if reports.reports:
            mlflow.log_dict(reports.to_json(), DATA_REPORT_FILE)
        if len(reports.profiles) > 1:
            mlflow.log_figure(_report_figure(reports, definition), "data_report.png")
        info = log_model(model, definition, definition_text, features_file, example)
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


def _report_figure(reports: BatchReports, definition: DatasetDefinition) -> Any:
    """Each column of the newest batch against the earlier ones: distributions (numbers) or value shares."""
    newest = max(reports.profiles)
    batch = [reports.profiles[newest]]
    earlier = [p for n, p in sorted(reports.profiles.items()) if n != newest]
    names = profiled_columns(definition)
    columns = min(4, len(names))
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.4 * rows), squeeze=False)
    span = f"batch {min(reports.profiles)}" + (f"-{newest - 1}" if newest - 1 > min(reports.profiles) else "")
    for ax, name in zip(axes.flat, names, strict=False):
        if definition.column(name).numeric:
            for profiles, label in ((earlier, f"earlier ({span})"), (batch, f"batch {newest}")):
                ax.plot(*cdf(profiles, name), label=label)
            ax.set_ylabel("share at or below", fontsize=7)
        else:
            before, now = shares(earlier, name), shares(batch, name)
            values = sorted(set(before) | set(now))[:12]
            positions = range(len(values))
            ax.bar([p - 0.2 for p in positions], [before.get(v, 0) for v in values], 0.4, label="earlier")
            ax.bar(
                [p + 0.2 for p in positions], [now.get(v, 0) for v in values], 0.4, label=f"batch {newest}"
            )
            ax.set_xticks(list(positions), values, rotation=45, ha="right", fontsize=6)
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=6)
    fig.suptitle(f"Batch {newest} against the batches before it", fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig


def evaluation_figure(definition: DatasetDefinition, labels: np.ndarray, values: np.ndarray) -> Any:
    """The plots an ML engineer reads for the task, on the holdout: binary ROC and PR curves, the confusion
    matrix at 0.5 and calibration; multiclass the confusion matrix and each class's ROC; regression
    predicted against actual and the residuals."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    task = definition.label.task
    names = [str(c) for c in definition.class_names]
    if task == "regression":
        fig, (fit, residuals) = plt.subplots(1, 2, figsize=(10, 4.5))
        fit.scatter(labels, values, s=6, alpha=0.5)
        low, high = float(min(labels.min(), values.min())), float(max(labels.max(), values.max()))
        fit.plot([low, high], [low, high], color="grey", linewidth=1)
        fit.set(xlabel="actual", ylabel="predicted", title="Predicted against actual")
        residuals.scatter(values, labels - values, s=6, alpha=0.5)
        residuals.axhline(0, color="grey", linewidth=1)
        residuals.set(xlabel="predicted", ylabel="actual - predicted", title="Residuals")
    elif task == "binary":
        fig, axes = plt.subplots(2, 2, figsize=(10, 9))
        RocCurveDisplay.from_predictions(labels, values, ax=axes[0, 0], name=names[1])
        PrecisionRecallDisplay.from_predictions(labels, values, ax=axes[0, 1], name=names[1])
        ConfusionMatrixDisplay.from_predictions(
            labels, (values >= 0.5).astype(int), display_labels=names, ax=axes[1, 0], colorbar=False
        )
        axes[1, 0].set_title("Confusion matrix at 0.5")
        observed, predicted = calibration_curve(labels, values, n_bins=10, strategy="quantile")
        axes[1, 1].plot(predicted, observed, marker="o")
        axes[1, 1].plot([0, 1], [0, 1], color="grey", linewidth=1)
        axes[1, 1].set(xlabel="predicted probability", ylabel="observed share", title="Calibration")
    else:
        fig, (matrix, roc) = plt.subplots(1, 2, figsize=(12, 5))
        ConfusionMatrixDisplay.from_predictions(
            labels,
            values.argmax(axis=1),
            labels=list(range(len(names))),
            display_labels=names,
            ax=matrix,
            colorbar=False,
        )
        for index, name in enumerate(names):
            if 0 < int((labels == index).sum()) < len(labels):
                RocCurveDisplay.from_predictions(labels == index, values[:, index], ax=roc, name=name)
        roc.set_title("Each class against the rest")
    fig.suptitle(f"Holdout of {definition.name} ({len(labels)} rows)")
    fig.tight_layout()
    plt.close(fig)
    return fig


def history_figure(versions: list[ModelVersion], metric: str) -> Any:
    """Each evaluated version's holdout metric by the batch it was trained up to, champions marked."""
    points = sorted(
        (
            int(v.tags[LINEAGE_BATCH_NUMBER_TAG]),
            float(v.tags[f"holdout.{metric}"]),
            str(v.version),
            v.tags.get(GATE_DECISION_TAG) == GATE_PROMOTE,
        )
        for v in versions
        if f"holdout.{metric}" in (v.tags or {}) and LINEAGE_BATCH_NUMBER_TAG in (v.tags or {})
    )
    fig, ax = plt.subplots(figsize=(7, 4))
    for promoted, label, marker in ((True, "promoted", "o"), (False, "kept the champion", "x")):
        chosen = [p for p in points if p[3] == promoted]
        ax.scatter([p[0] for p in chosen], [p[1] for p in chosen], marker=marker, label=label)
    for batch, value, version, _ in points:
        ax.annotate(f"v{version}", (batch, value), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set(xlabel="batch", ylabel=f"holdout {metric}", title=f"Holdout {metric} of each version")
    ax.legend(fontsize=7)
    fig.tight_layout()
    plt.close(fig)
    return fig


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def predictions(version: ModelVersion, rows: pd.DataFrame, settings: Settings) -> Any:
    """The registered version's answer for raw rows, loaded from the registry as any consumer would."""
    connect(settings)
    loaded = mlflow.pyfunc.load_model(f"models:/{version.name}/{version.version}")
    return loaded.predict(rows)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def record_evaluation(
    version: ModelVersion,
    new: Metrics,
    champion_version: ModelVersion | None,
    champion_metrics: Metrics | None,
    decision: GateDecision,
    data: DatasetVersion,
    holdout: pd.DataFrame,
    figure: Any,
    settings: Settings,
) -> EvaluationResult:
    """The first evaluation of a version: the comparison (and the holdout it was made on) on its training
    run and as version tags, the decision `mlops promote` checks, and its plots (`evaluation.png`, and
    `holdout_history.png` of every version so far). Any later one is `record_reevaluation`'s."""
    client = connect(settings)
    metrics = _comparison_metrics(new, champion_metrics)
    assert version.run_id is not None
    client.log_batch(version.run_id, metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()])
    entity = data_input(data, holdout, settings, "holdout")._to_mlflow_entity()
    holdout_tags = [
        InputTag(k, v) for k, v in ({"mlflow.data.context": "holdout"} | input_tags(data, "holdout")).items()
    ]
    client.log_inputs(version.run_id, [DatasetInput(entity, holdout_tags)])
    tags = _gate_tags(new, champion_version, decision)
    if any(a.path == DATA_REPORT_FILE for a in client.list_artifacts(version.run_id)):
        tags[GATE_DATA_REPORT_TAG] = f"runs:/{version.run_id}/{DATA_REPORT_FILE}"
    for key, value in tags.items():
        client.set_model_version_tag(version.name, version.version, key, value)
        client.set_tag(version.run_id, key, value)
    client.log_figure(version.run_id, figure, EVALUATION_PLOTS)
    evaluated = model_versions(client, version.name)
    client.log_figure(version.run_id, history_figure(evaluated, decision.metric), HISTORY_PLOT)
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
        metrics=dict(new),
        champion_version=str(champion_version.version) if champion_version else None,
        champion_metrics=dict(champion_metrics) if champion_metrics else None,
        promote=decision.promote,
        reason=decision.reason,
    )


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
        BATCH_NUMBER_TAG: str(batch_number),
    }
    with mlflow.start_run(run_name=f"evaluation-v{version.version}-batch-{batch_number}", tags=tags):
        mlflow.log_input(
            data_input(data, holdout, settings, "holdout"), "holdout", input_tags(data, "holdout")
        )
        mlflow.log_metrics(metrics)
    return _evaluation_result(version, new, champion_version, champion_metrics, decision)


def _comparison_metrics(new: Metrics, champion_metrics: Metrics | None) -> dict[str, float]:
    """The new version's holdout metrics and, beside them, the champion's on the same holdout."""
    metrics = {f"holdout_{k}": v for k, v in new.items()}
    if champion_metrics is not None:
        metrics |= {f"champion_holdout_{k}": v for k, v in champion_metrics.items()}
    return metrics


def _gate_tags(new: Metrics, champion_version: ModelVersion | None, decision: GateDecision) -> dict[str, str]:
    return {
        GATE_DECISION_TAG: GATE_PROMOTE if decision.promote else GATE_KEEP,
        GATE_REASON_TAG: decision.reason,
        GATE_MARGIN_TAG: str(decision.margin),
        GATE_CHAMPION_VERSION_TAG: str(champion_version.version) if champion_version else "",
        f"holdout.{decision.metric}": f"{decision.new_value:.6f}",
    }
