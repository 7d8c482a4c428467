"""XGBoost training on a prepared dataset, for the definition's task. Pure: no files, no tracking."""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from flows.logic.definition import METRICS, DatasetDefinition, Task
from flows.logic.features import SPLIT_COLUMN, build_features, encode_labels

# The early-stopping metric XGBoost computes for each gate metric, and its name in our terms.
_EVAL_METRIC: dict[str, str] = {
    "roc_auc": "auc",
    "pr_auc": "aucpr",
    "log_loss": "logloss",
    "accuracy": "logloss",
    "f1": "logloss",
    "macro_f1": "mlogloss",
    "rmse": "rmse",
    "mae": "mae",
    "r2": "rmse",
}
_OUR_NAME = {"auc": "roc_auc", "aucpr": "pr_auc", "logloss": "log_loss", "mlogloss": "log_loss"}


@dataclass(frozen=True)
class TrainedModel:
    booster: xgb.Booster
    params: dict[str, Any]
    best_iteration: int
    valid_metric: str  # our name of the early-stopping metric (roc_auc, log_loss, rmse, ...)
    valid_score: float
    valid_curve: list[float]
    train_rows: int
    valid_rows: int
    feature_names: list[str]


def task_params(definition: DatasetDefinition) -> dict[str, Any]:
    """What the task fixes: the objective, the number of classes, the early-stopping metric."""
    task: Task = definition.label.task
    metric = _EVAL_METRIC[definition.metric_name]
    if task == "binary":
        return {"objective": "binary:logistic", "eval_metric": metric}
    if task == "multiclass":
        metric = "mlogloss" if metric == "logloss" else metric
        return {
            "objective": "multi:softprob",
            "num_class": len(definition.class_names),
            "eval_metric": metric,
        }
    return {"objective": "reg:squarederror", "eval_metric": metric}


def valid_metric(params: dict[str, Any]) -> str:
    """Our name of the early-stopping metric (roc_auc for XGBoost's auc, ...)."""
    metric = str(params["eval_metric"])
    return _OUR_NAME.get(metric, metric)


def higher_is_better(valid_metric_name: str) -> bool:
    """Whether a higher early-stopping score is better (the gate's directions; XGBoost's errors: lower)."""
    return any(metrics.get(valid_metric_name, False) for metrics in METRICS.values())


def training_params(
    definition: DatasetDefinition,
    overrides: dict[str, Any] | None = None,
    threads: int = 1,
    device: str = "cpu",
) -> dict[str, Any]:
    """The full XGBoost parameter set: the definition's, a candidate's overrides, the task's and the
    split's seed, with `threads` threads (the CPUs the process may use; an explicit `nthread` wins) on
    `device`. XGBoost's default device, the CPU, is left unsaid: the parameters (and so the train keys) of
    CPU runs are those they were before devices were a setting."""
    params = {
        **definition.training.params,
        **(overrides or {}),
        **task_params(definition),
        "seed": definition.split.seed,
    }
    params.setdefault("nthread", threads)
    if device != "cpu":
        params["device"] = device
    return params


def logged_params(logged: dict[str, str]) -> dict[str, Any]:
    """A run's XGBoost parameters as MLflow gives them back (each value as Python's str() wrote it), typed
    again: '0.1' is 0.1, '1e-05' 1e-05, 'True' True, "['auc']" a list; 'hist' stays text."""
    typed: dict[str, Any] = {}
    for key, text in logged.items():
        try:
            typed[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            try:
                typed[key] = float(text)  # 'nan', 'inf'
            except ValueError:
                typed[key] = text
    return typed


def best_candidate(scores: list[float], maximize: bool) -> int:
    """Index of the best validation score; the earlier candidate wins a tie."""
    if not scores:
        raise ValueError("no candidates to choose from")
    sign = 1.0 if maximize else -1.0
    return max(range(len(scores)), key=lambda i: (sign * scores[i], -i))


def train_key(
    dataset_md5: str,
    params: dict[str, Any],
    definition_sha: str,
    definition: DatasetDefinition,
    code: str,
    engine: str = "local",
    workers: int = 1,
) -> str:
    """Hash of all training inputs that change the model (thread count does not; the engine and, on Dask,
    the worker count do: each worker sketches its own rows' quantiles). The local engine's keys are those
    from before engines were a setting, so its earlier runs are still found."""
    relevant = {k: v for k, v in params.items() if k != "nthread"}
    payload: dict[str, Any] = {
        "dataset": dataset_md5,
        "params": relevant,
        "definition": definition_sha,
        "code": code,
        "rounds": definition.training.rounds,
        "early_stopping": definition.training.early_stopping,
    }
    if engine != "local":
        payload |= {"engine": engine, "workers": workers}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ModelInputs:
    """What XGBoost fits on, from prepared rows: features, labels, weights (or None) and each row's split."""

    features: pd.DataFrame
    labels: np.ndarray
    weights: np.ndarray | None
    split: np.ndarray


def model_inputs(
    dataset: pd.DataFrame, definition: DatasetDefinition, derived: pd.DataFrame | None = None
) -> ModelInputs:
    """`dataset`'s rows as XGBoost takes them. `derived` holds the derived-feature columns of `dataset`'s
    rows (same order), when the definition has any."""
    weights = None if definition.weight is None else dataset[definition.weight].to_numpy(dtype="float64")
    return ModelInputs(
        build_features(dataset, definition, derived),
        encode_labels(dataset[definition.label.column], definition),
        weights,
        dataset[SPLIT_COLUMN].to_numpy(),
    )


def trained_model(
    booster: xgb.Booster,
    params: dict[str, Any],
    history: dict[str, dict[str, list[float]]],
    train_rows: int,
    valid_rows: int,
) -> TrainedModel:
    """The fit's result, whichever engine boosted it (`history`: XGBoost's evals result of 'valid')."""
    curve = [float(v) for v in history["valid"][str(params["eval_metric"])]]
    best = int(booster.best_iteration)
    return TrainedModel(
        booster,
        params,
        best,
        valid_metric(params),
        curve[best],
        curve,
        train_rows,
        valid_rows,
        list(booster.feature_names or []),
    )


def fit(
    dataset: pd.DataFrame,
    definition: DatasetDefinition,
    params: dict[str, Any],
    derived: pd.DataFrame | None = None,
) -> TrainedModel:
    """Boost on 'train' with early stopping on 'valid'; the holdout is never touched. `derived` holds the
    derived-feature columns of `dataset`'s rows (same order), when the definition has any."""
    inputs = model_inputs(dataset, definition, derived)
    features, labels, weights = inputs.features, inputs.labels, inputs.weights
    train, valid = inputs.split == "train", inputs.split == "valid"
    if not train.any() or not valid.any():
        raise ValueError("the dataset needs rows in both the 'train' and 'valid' splits")
    dtrain = xgb.QuantileDMatrix(
        features[train], label=labels[train], weight=None if weights is None else weights[train]
    )
    dvalid = xgb.QuantileDMatrix(
        features[valid], label=labels[valid], weight=None if weights is None else weights[valid], ref=dtrain
    )
    history: dict[str, dict[str, list[float]]] = {}
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=definition.training.rounds,
        evals=[(dvalid, "valid")],
        early_stopping_rounds=definition.training.early_stopping,
        evals_result=history,
        verbose_eval=False,
    )
    return trained_model(booster, params, history, int(train.sum()), int(valid.sum()))


def predict(booster: xgb.Booster, features: pd.DataFrame, task: Task) -> np.ndarray:
    """Binary: the positive class's probability; multiclass: one probability per class (rows x classes);
    regression: the value. The trees up to the best iteration only."""
    matrix = xgb.DMatrix(features)
    best = getattr(booster, "best_iteration", None)
    window = {} if best is None else {"iteration_range": (0, best + 1)}
    out = np.asarray(booster.predict(matrix, **window))
    if task == "multiclass" and out.ndim == 1:
        out = out.reshape(len(features), -1)
    return out
