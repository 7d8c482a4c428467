"""The stages of bench/dvc_repro/dvc.yaml: thin file-to-file wrappers around the pipeline's pure functions."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import xgboost as xgb

from flows.adapters.cpu import cpu_budget
from flows.adapters.datasets import load_definition
from flows.logic.contract import conform, frame_problems
from flows.logic.definition import DatasetDefinition
from flows.logic.evaluation import holdout_metrics
from flows.logic.features import SPLIT_COLUMN, build_features, encode_labels, loan_ratios, prepare_dataset
from flows.logic.training import fit, predict, training_params
from flows.logic.validation import BatchRejected
from flows.settings import Settings


def loan() -> DatasetDefinition:
    return load_definition("loan-default", Settings())


def ingest(landing: str, raw: str) -> None:
    frame = pd.read_csv(landing)
    problems = frame_problems(frame, loan())
    if problems:
        raise BatchRejected(1, problems)
    Path(raw).parent.mkdir(parents=True, exist_ok=True)
    conform(frame, loan()).to_parquet(raw, index=False)


def prepare(raw: str, dataset: str) -> None:
    prepared, _ = prepare_dataset([pd.read_parquet(raw)], loan())
    prepared.to_parquet(dataset, index=False)


def train(dataset: str, model: str) -> None:
    frame = pd.read_parquet(dataset)
    trained = fit(frame, loan(), training_params(loan(), threads=cpu_budget()), loan_ratios(frame))
    trained.booster.set_attr(best_iteration=str(trained.best_iteration))
    trained.booster.save_model(model)


def evaluate(dataset: str, model: str, metrics: str) -> None:
    booster = xgb.Booster(model_file=model)
    holdout = pd.read_parquet(dataset).query(f"{SPLIT_COLUMN} == 'holdout'").reset_index(drop=True)
    features = build_features(holdout, loan(), loan_ratios(holdout))
    labels = encode_labels(holdout["defaulted"], loan())
    scored = holdout_metrics("binary", labels, predict(booster, features, "binary"))
    with open(metrics, "w") as out:
        json.dump({"roc_auc": scored["roc_auc"]}, out)


STAGES: dict[str, Callable[..., None]] = {
    "ingest": ingest,
    "prepare": prepare,
    "train": train,
    "evaluate": evaluate,
}

if __name__ == "__main__":
    STAGES[sys.argv[1]](*sys.argv[2:])
