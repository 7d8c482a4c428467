"""Evaluate: register the trained run's model as a version (or find the version already registered from the
same train key), score it and the champion on the same holdout, and record the gate's decision on the version.
It runs as the registry's identity (README, "MLflow roles"): no training identity can add a version or forge
the gate's tags that promote trusts."""

from __future__ import annotations

import re

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.adapters.datasets import fetch_definition
from flows.adapters.dvc_store import dataset_path
from flows.contracts import DatasetVersion, DefinitionRef, EvaluationResult, TrainResult
from flows.logic.evaluation import (
    answer_metrics,
    answer_values,
    comparison_markdown,
    promotion_gate,
    rerun_decision,
)
from flows.logic.features import encode_labels
from flows.logic.tag_names import GATE_DECISION_TAG
from flows.stages.runner import publish, stage_settings
from flows.stages.workspace import stage_workspace
from flows.tasks import data, model, versions


def artifact_key(model_name: str, batch_number: int) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    slug = re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-")
    return f"evaluation-{slug}-batch-{batch_number}"


@flow(name="evaluate", log_prints=True)
def evaluate(
    trained: TrainResult,
    dataset: DatasetVersion,
    batch_number: int,
    definition: DefinitionRef | None = None,
) -> EvaluationResult:
    settings, definition = stage_settings(definition)
    declared = fetch_definition(definition, settings)
    with stage_workspace("evaluate", settings) as workspace:
        holdout = data.fetch_frame(
            dataset.file, dataset_path(dataset.file), workspace, settings, only_split="holdout"
        )
    rows = holdout.loc[:, declared.feature_columns]
    labels = encode_labels(holdout[declared.label.column], declared)
    new_version = versions.find_trained_version(trained.train_key, settings) or versions.register(
        trained.run_id, trained.model_uri, settings
    )
    version_number = str(new_version.version)
    answer = model.predictions(new_version, rows, settings)
    new = answer_metrics(declared, labels, answer)
    current = versions.champion(settings)
    champion_metrics = None
    if current is not None:
        champion_metrics = answer_metrics(declared, labels, model.predictions(current, rows, settings))
    already = current is not None and str(current.version) == version_number
    decision = promotion_gate(
        new, champion_metrics, declared.metric_name, declared.maximize, declared.metric.margin, already
    )
    first = GATE_DECISION_TAG not in (new_version.tags or {})
    if first:
        figure = model.evaluation_figure(declared, labels, answer_values(declared, answer))
        result = model.record_evaluation(
            new_version, new, current, champion_metrics, decision, dataset, holdout, figure, settings
        )
    else:
        if trained.reused:  # a re-run: it records the comparison and changes nothing
            decision = rerun_decision(decision, new_version.tags or {})
        result = model.record_reevaluation(
            new_version, new, current, champion_metrics, decision, batch_number, dataset, holdout, settings
        )
    create_markdown_artifact(
        markdown=comparison_markdown(
            batch_number,
            version_number,
            new,
            str(current.version) if current else None,
            champion_metrics,
            decision,
            f"`{model.EVALUATION_PLOTS}` and `{model.HISTORY_PLOT}` on MLflow run {new_version.run_id}",
        ),
        key=artifact_key(trained.model_name, batch_number),
        description=f"{trained.model_name} v{version_number} vs champion",
    )
    return publish(result.model_copy(update={"pulled_md5s": [dataset.file.md5]}), settings)
