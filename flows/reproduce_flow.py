"""reproduce(model_name, version): retrain a registered version from its lineage alone.

The version's tags name its data by md5 (the dataset in the DVC remote, found in the catalog), its dataset
definition by hash (stored in the data store by the pipeline that trained it), and its run holds the
XGBoost parameters and thread count; feature code a definition keeps beside itself comes from the
version's own artifacts. The retrained model is logged as a new run tagged as a reproduction (never
registered, and nothing of the original changes); its holdout metric is reported next to the original's.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.models import Model
from prefect import flow, get_run_logger

from flows import raw_row_model
from flows.adapters.catalog import Catalog
from flows.adapters.code_version import code_version
from flows.adapters.cpu import cpu_budget
from flows.adapters.datasets import definition_path, stored_definition_text
from flows.adapters.dvc_store import dataset_path
from flows.adapters.tracking import connect
from flows.contracts import ReproductionResult
from flows.feature_code import derive, derived_function, features_file
from flows.logic.definition import parse_definition
from flows.logic.evaluation import answer_metrics
from flows.logic.features import SPLIT_COLUMN, encode_labels
from flows.logic.tag_names import (
    LINEAGE_CODE_VERSION_TAG,
    LINEAGE_DATASET_MD5_TAG,
    LINEAGE_DATASET_TAG,
    LINEAGE_DEFINITION_TAG,
    REPRODUCTION_OF_TAG,
    THREADS_TAG,
)
from flows.logic.training import logged_params, training_params
from flows.settings import get_settings
from flows.stages.workspace import stage_workspace
from flows.tasks import data, model


class ReproductionError(RuntimeError):
    """The version's lineage does not lead back to its inputs."""


@flow(name="reproduce", log_prints=True)
def reproduce(model_name: str, version: str) -> ReproductionResult:
    settings = get_settings()
    uri = settings.resolved_tracking_uri  # the registry only: `connect` would make the default's experiment
    original = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version(model_name, version)
    tags = dict(original.tags or {})
    settings = settings.for_dataset(tags.get(LINEAGE_DATASET_TAG) or settings.dataset)
    client = connect(settings)
    run = client.get_run(original.run_id or "")
    where, text = stored_definition_text(tags.get(LINEAGE_DEFINITION_TAG, ""), settings)
    declared = parse_definition(text, where)
    dataset = Catalog(settings).dataset_by_md5(tags.get(LINEAGE_DATASET_MD5_TAG, ""))
    if dataset is None:
        raise ReproductionError(
            f"{model_name} version {version} was trained on dataset md5 "
            f"{tags.get(LINEAGE_DATASET_MD5_TAG) or '(none recorded)'}, which the catalog does not hold"
        )
    threads = int(run.data.tags.get(THREADS_TAG) or cpu_budget())
    params = training_params(declared, logged_params(run.data.params), threads=threads)
    differences = _differences(tags, run.data.tags, settings.code_version)
    with tempfile.TemporaryDirectory() as tmp, stage_workspace("reproduce", settings) as workspace:
        features = _features_file(model_name, version, Path(tmp))
        frame = data.fetch_frame(dataset.file, dataset_path(dataset.file), workspace, settings)
        folder = definition_path(declared.name, settings).parent
        function = derived_function(declared, folder, features)
        derived = None if function is None else derive(function, frame, declared)
        trained = model.fit_model(frame, declared, params, derived)
        lineage = {k: v for k, v in tags.items() if k.startswith("lineage.")}
        reproduction = lineage | {
            REPRODUCTION_OF_TAG: f"{model_name}/{version}",
            THREADS_TAG: str(threads),
        }
        logged = model.log_run(
            trained,
            frame,
            declared,
            text,
            features or features_file(declared, folder),
            dataset,
            data.batch_reports(dataset.batches, settings),
            f"reproduce-v{version}",
            reproduction,
            settings,
        )
    holdout = frame[frame[SPLIT_COLUMN] == "holdout"]
    answer = mlflow.pyfunc.load_model(logged.model_uri).predict(holdout.loc[:, declared.feature_columns])
    metrics = answer_metrics(declared, encode_labels(holdout[declared.label.column], declared), answer)
    client.log_batch(logged.run_id, metrics=[Metric(f"holdout_{k}", v, 0, 0) for k, v in metrics.items()])
    metric = declared.metric_name
    recorded = run.data.metrics.get(f"holdout_{metric}")
    result = ReproductionResult(
        model_name=model_name,
        model_version=version,
        run_id=logged.run_id,
        metric=metric,
        recorded=recorded,
        reproduced=metrics[metric],
        differences=differences,
    )
    get_run_logger().info(
        "reproduced %s version %s as run %s: holdout %s %s (recorded %s)",
        model_name,
        version,
        logged.run_id,
        metric,
        f"{result.reproduced:.6f}",
        "none" if recorded is None else f"{recorded:.6f}",
    )
    return result


def _features_file(model_name: str, version: str, folder: Path) -> Path | None:
    """The feature module the version itself carries (its exact training code), when it carries one."""
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{model_name}/{version}", dst_path=str(folder)))
    artifacts = Model.load(str(local / "MLmodel")).flavors["python_function"].get("artifacts", {})
    entry = artifacts.get(raw_row_model.FEATURES)
    return local / entry["path"] if entry else None


def _differences(version_tags: dict[str, str], run_tags: dict[str, str], configured_code: str) -> list[str]:
    """What this reproduction cannot hold as the original had it."""
    found = []
    original_code = version_tags.get(LINEAGE_CODE_VERSION_TAG, "")
    current = code_version(configured_code)
    if original_code != current:
        found.append(f"code version {current} (the original: {original_code or 'not recorded'})")
    if THREADS_TAG not in run_tags:
        found.append("the original's thread count is not recorded: this run uses this machine's CPUs")
    return found
