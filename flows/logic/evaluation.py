"""Holdout metrics and the promotion gate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from flows.logic.definition import DatasetDefinition, Task
from flows.logic.tag_names import GATE_DECISION_TAG, GATE_REASON_TAG

# The gate's decision, as a tag on the model version (and its run): what `mlops promote` checks.
GATE_PROMOTE, GATE_KEEP = "promote", "keep"


# A metric's name as a person reads it in a gate's reason.
METRIC_LABELS = {
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "log_loss": "log loss",
    "accuracy": "accuracy",
    "f1": "F1",
    "macro_f1": "macro F1",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R^2",
}
# Holdout metrics by name, and the holdout's row count under "rows".
Metrics = dict[str, float]


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    metric: str
    new_value: float
    champion_value: float | None
    margin: float


def answer_values(definition: DatasetDefinition, answer: Any) -> np.ndarray:
    """A registered model's answer as the metrics take it: regression values, the binary positive class's
    probability, or one probability per class (columns named after the classes)."""
    task = definition.label.task
    if task == "regression":
        return np.asarray(answer, dtype="float64").reshape(-1)
    probabilities = pd.DataFrame(answer)[[str(c) for c in definition.class_names]].to_numpy(dtype="float64")
    return probabilities[:, 1] if task == "binary" else probabilities


def answer_metrics(definition: DatasetDefinition, labels: np.ndarray, answer: Any) -> Metrics:
    """The task's holdout metrics of a registered model's answer."""
    values = answer_values(definition, answer)
    task = definition.label.task
    if task == "multiclass":
        return holdout_metrics(task, labels, values, classes=len(definition.class_names))
    return holdout_metrics(task, labels, values)


def holdout_metrics(task: Task, labels: np.ndarray, predictions: np.ndarray, classes: int = 2) -> Metrics:
    """The task's metrics of predictions against encoded labels (see `features.encode_labels`): binary from
    the positive class's probability, multiclass from one probability per class, regression from values."""
    if len(labels) == 0 or len(labels) != len(predictions):
        raise ValueError("labels and predictions must be non-empty and of equal length")
    # Imported here: scikit-learn's metrics take ~0.9 s to import, and promote, which takes the gate's tags
    # and champion_moved from this module, computes no metric.
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        f1_score,
        log_loss,
        mean_absolute_error,
        mean_squared_error,
        r2_score,
        roc_auc_score,
    )

    if task == "regression":
        return {
            "rmse": float(np.sqrt(mean_squared_error(labels, predictions))),
            "mae": float(mean_absolute_error(labels, predictions)),
            "r2": float(r2_score(labels, predictions)) if len(labels) > 1 else float("nan"),
            "rows": float(len(labels)),
        }
    if task == "binary":
        if len(np.unique(labels)) < 2:
            raise ValueError(
                "the holdout holds only one class: ROC AUC, PR AUC and log loss are undefined; "
                "train on more rows (more batches) so that both classes are held out"
            )
        decided = predictions >= 0.5
        return {
            "roc_auc": float(roc_auc_score(labels, predictions)),
            "pr_auc": float(average_precision_score(labels, predictions)),
            "log_loss": float(log_loss(labels, predictions, labels=[0, 1])),
            "accuracy": float(accuracy_score(labels, decided)),
            "f1": float(f1_score(labels, decided, zero_division=0.0)),
            "rows": float(len(labels)),
        }
    decided = predictions.argmax(axis=1)
    return {
        "log_loss": float(log_loss(labels, predictions, labels=list(range(classes)))),
        "accuracy": float(accuracy_score(labels, decided)),
        "macro_f1": float(f1_score(labels, decided, average="macro", zero_division=0.0)),
        "rows": float(len(labels)),
    }


def promotion_gate(
    new: Metrics,
    champion: Metrics | None,
    metric: str,
    maximize: bool,
    margin: float,
    is_champion: bool = False,
) -> GateDecision:
    """Promote the first model, or one whose `metric` beats the champion's by at least `margin` (higher is
    better when `maximize`, lower otherwise)."""
    value = new[metric]
    champ = champion[metric] if champion else None
    label = METRIC_LABELS.get(metric, metric)
    if is_champion:
        return GateDecision(False, "this version is already the champion", metric, value, champ, margin)
    if champ is None:
        return GateDecision(True, "no champion yet", metric, value, None, margin)
    gain = value - champ if maximize else champ - value
    better = "higher" if maximize else "lower"
    if gain >= margin:
        reason = f"{label} {value:.4f} beats champion {champ:.4f} by {gain:+.4f}"
        return GateDecision(
            True, f"{reason} (margin {margin:g}, {better} is better)", metric, value, champ, margin
        )
    reason = f"{label} {value:.4f} vs champion {champ:.4f} ({gain:+.4f}, {better} is better)"
    return GateDecision(False, f"{reason} is below margin {margin:g}", metric, value, champ, margin)


def rerun_decision(decision: GateDecision, first_tags: Mapping[str, str]) -> GateDecision:
    """The decision of a re-run on a version evaluated before: never a promotion. Its first decision stands
    (the one `mlops promote` trusts); a re-run that moved the champion would rewrite history."""
    first = f"{first_tags.get(GATE_DECISION_TAG, '?')}: {first_tags.get(GATE_REASON_TAG, '')}"
    reason = f"re-run of a version evaluated before (its decision stands: {first}); now {decision.reason}"
    return replace(decision, promote=False, reason=reason)


def champion_moved(evaluated_against: str | None, current: str | None) -> str | None:
    """Why a gate decision made against `evaluated_against` no longer holds, or None if it still does.

    Two pipelines may evaluate against the same champion; the second to promote would otherwise
    replace the first's model without ever being compared with it.
    """
    if evaluated_against == current:
        return None
    before = f"version {evaluated_against}" if evaluated_against else "none"
    now = f"version {current}" if current else "none"
    return f"the champion was {before} when evaluated and is {now} now"


def comparison_markdown(
    batch_number: int,
    version: str,
    new: Metrics,
    champion_version: str | None,
    champion: Metrics | None,
    decision: GateDecision,
    plots: str = "",
) -> str:
    """The evaluation report, as the Prefect artifact shows it; `plots` says where its figures are."""
    lines = [
        f"# Evaluation of version {version} (batch {batch_number})",
        "",
        "| metric | new | champion |",
        "|---|---|---|",
    ]
    for name, value in new.items():
        champ = "-" if champion is None else _shown(name, champion[name])
        lines.append(f"| {name} | {_shown(name, value)} | {champ} |")
    verdict = "**promote**" if decision.promote else "**keep champion**"
    lines += [
        "",
        f"Champion: {champion_version or 'none'}. Decision: {verdict}: {decision.reason}.",
    ]
    if plots:
        lines += ["", f"Plots on the holdout: {plots}."]
    return "\n".join(lines)


def _shown(name: str, value: float) -> str:
    """A count as a whole number (rows: 8003), a metric to four places."""
    return f"{value:.0f}" if name == "rows" else f"{value:.4f}"
