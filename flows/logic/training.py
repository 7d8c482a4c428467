"""XGBoost training on a prepared dataset. Pure computation: no files, no tracking."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from flows.logic.definition import DEFAULT_CANDIDATES
from flows.logic.definition import DEFAULT_PARAMS as DEFINITION_DEFAULTS
from flows.logic.features import FEATURE_COLUMNS, SPLIT_COLUMN
from flows.logic.schema import LABEL_COLUMN

DEFAULT_PARAMS: dict[str, Any] = {"objective": "binary:logistic", "eval_metric": "auc", **DEFINITION_DEFAULTS}
NUM_BOOST_ROUND = 400
EARLY_STOPPING_ROUNDS = 30


@dataclass(frozen=True)
class TrainedModel:
    booster: xgb.Booster
    params: dict[str, Any]
    best_iteration: int
    valid_roc_auc: float
    valid_curve: list[float]
    train_rows: int
    valid_rows: int


def training_params(seed: int, overrides: dict[str, Any] | None = None, threads: int = 1) -> dict[str, Any]:
    """The full XGBoost parameter set: defaults, then overrides, with the seed and `threads` threads
    (the CPUs the process may use; an explicit `nthread` override wins)."""
    params = {**DEFAULT_PARAMS, **(overrides or {}), "seed": seed}
    params.setdefault("nthread", threads)
    return params


# Hyperparameter candidates for a fan-out: the first is the default set, so one candidate = no search.
CANDIDATE_OVERRIDES = DEFAULT_CANDIDATES


def candidate_overrides(count: int) -> list[dict[str, Any]]:
    """The first `count` hyperparameter candidates."""
    if not 1 <= count <= len(CANDIDATE_OVERRIDES):
        raise ValueError(f"candidates must be between 1 and {len(CANDIDATE_OVERRIDES)}, got {count}")
    return [dict(o) for o in CANDIDATE_OVERRIDES[:count]]


def best_candidate(valid_roc_aucs: list[float]) -> int:
    """Index of the best validation ROC AUC; the earlier candidate wins a tie."""
    if not valid_roc_aucs:
        raise ValueError("no candidates to choose from")
    return max(range(len(valid_roc_aucs)), key=lambda i: (valid_roc_aucs[i], -i))


def train_key(dataset_md5: str, params: dict[str, Any], code_version: str) -> str:
    """Hash of all training inputs that change the model (thread count does not)."""
    relevant = {k: v for k, v in params.items() if k != "nthread"}
    payload = {
        "dataset": dataset_md5,
        "params": relevant,
        "code": code_version,
        "rounds": NUM_BOOST_ROUND,
        "early_stopping": EARLY_STOPPING_ROUNDS,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def split_rows(dataset: pd.DataFrame, split: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and labels of one split ('train', 'valid' or 'holdout')."""
    rows = dataset[dataset[SPLIT_COLUMN] == split]
    return rows.loc[:, list(FEATURE_COLUMNS)], rows[LABEL_COLUMN].to_numpy()


def fit(dataset: pd.DataFrame, params: dict[str, Any]) -> TrainedModel:
    """Boost on 'train' with early stopping on 'valid'; the holdout is never touched."""
    x_train, y_train = split_rows(dataset, "train")
    x_valid, y_valid = split_rows(dataset, "valid")
    if len(x_train) == 0 or len(x_valid) == 0:
        raise ValueError("the dataset needs rows in both the 'train' and 'valid' splits")
    dtrain = xgb.QuantileDMatrix(x_train, label=y_train)
    dvalid = xgb.QuantileDMatrix(x_valid, label=y_valid, ref=dtrain)
    history: dict[str, dict[str, list[float]]] = {}
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=NUM_BOOST_ROUND,
        evals=[(dvalid, "valid")],
        early_stopping_rounds=EARLY_STOPPING_ROUNDS,
        evals_result=history,
        verbose_eval=False,
    )
    curve = [float(v) for v in history["valid"]["auc"]]
    best = int(booster.best_iteration)
    return TrainedModel(booster, params, best, curve[best], curve, len(x_train), len(x_valid))


def predict_proba(booster: xgb.Booster, features: pd.DataFrame) -> np.ndarray:
    """Default probabilities, using the trees up to the best iteration."""
    matrix = xgb.DMatrix(features.loc[:, list(FEATURE_COLUMNS)])
    best = getattr(booster, "best_iteration", None)
    if best is None:
        return np.asarray(booster.predict(matrix))
    return np.asarray(booster.predict(matrix, iteration_range=(0, best + 1)))
