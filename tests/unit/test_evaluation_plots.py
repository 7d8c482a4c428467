"""The evaluation's plots for each task, and the history of the holdout metric across versions."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from mlflow.entities.model_registry import ModelVersion, ModelVersionTag

from flows.tasks.model import evaluation_figure, history_figure
from tests.definitions import customers


def titles(figure: Any) -> list[str]:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(b"\x89PNG")
    return [ax.get_title() for ax in figure.axes if ax.get_visible()]


def test_each_task_gets_the_plots_its_engineer_reads() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    probabilities = np.clip(labels * 0.4 + rng.random(200) * 0.6, 0, 1)
    binary = titles(evaluation_figure(customers(), labels, probabilities))
    assert "Confusion matrix at 0.5" in binary and "Calibration" in binary
    three = customers(
        columns=[
            {"name": "tier", "type": "integer", "values": [0, 1, 2]},
            {"name": "income", "type": "number", "min": 0, "max": 1000000},
        ],
        label={"column": "tier", "task": "multiclass", "classes": [0, 1, 2]},
    )
    classes = rng.integers(0, 3, 150)
    multiclass = titles(evaluation_figure(three, classes, rng.dirichlet([1, 1, 1], 150)))
    assert "Each class against the rest" in multiclass
    income = customers(
        columns=[
            {"name": "spend", "type": "number", "min": 0, "max": 1000},
            {"name": "income", "type": "number", "min": 0, "max": 1000000},
        ],
        label={"column": "spend", "task": "regression"},
    )
    actual = rng.random(100) * 100
    assert titles(evaluation_figure(income, actual, actual + rng.normal(0, 5, 100))) == [
        "Predicted against actual",
        "Residuals",
    ]


def version(number: int, **tags: str) -> ModelVersion:
    return ModelVersion("m", str(number), 0, tags=[ModelVersionTag(k, v) for k, v in tags.items()])


def test_the_history_marks_each_versions_metric_by_batch() -> None:
    decisions = {1: "promote", 2: "keep", 3: "promote"}
    versions = [
        version(
            n, **{"lineage.batch_number": str(n), "holdout.roc_auc": str(0.7 + n / 100), "gate.decision": d}
        )
        for n, d in decisions.items()
    ]
    versions.append(version(4, **{"lineage.batch_number": "4"}))  # not evaluated yet
    figure = history_figure(versions, "roc_auc")
    [axis] = figure.axes
    assert axis.get_ylabel() == "holdout roc_auc"
    assert sorted(t.get_text() for t in axis.texts) == ["v1", "v2", "v3"]
