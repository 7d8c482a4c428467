"""The stages of bench/dvc_repro/dvc.yaml: thin file-to-file wrappers around the pipeline's pure functions."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import xgboost as xgb

from flows.adapters.cpu import cpu_budget
from flows.logic.evaluation import holdout_metrics
from flows.logic.features import SPLIT_COLUMN, prepare_dataset
from flows.logic.schema import LABEL_COLUMN
from flows.logic.training import fit, predict_proba, training_params
from flows.logic.validation import BatchRejected, conform, find_problems
from flows.settings import Settings


def ingest(landing: str, raw: str) -> None:
    frame = pd.read_csv(landing)
    problems = find_problems(frame)
    if problems:
        raise BatchRejected(1, problems)
    Path(raw).parent.mkdir(parents=True, exist_ok=True)
    conform(frame).to_parquet(raw, index=False)


def prepare(raw: str, dataset: str) -> None:
    settings = Settings()
    prepared = prepare_dataset(
        [pd.read_parquet(raw)], settings.holdout_fraction, settings.validation_fraction, settings.seed
    )
    prepared.to_parquet(dataset, index=False)


def train(dataset: str, model: str) -> None:
    trained = fit(pd.read_parquet(dataset), training_params(Settings().seed, threads=cpu_budget()))
    trained.booster.set_attr(best_iteration=str(trained.best_iteration))
    trained.booster.save_model(model)


def evaluate(dataset: str, model: str, metrics: str) -> None:
    booster = xgb.Booster(model_file=model)
    holdout = pd.read_parquet(dataset).query(f"{SPLIT_COLUMN} == 'holdout'")
    scored = holdout_metrics(holdout[LABEL_COLUMN].to_numpy(), predict_proba(booster, holdout))
    with open(metrics, "w") as out:
        json.dump({"roc_auc": scored.roc_auc}, out)


STAGES: dict[str, Callable[..., None]] = {
    "ingest": ingest,
    "prepare": prepare,
    "train": train,
    "evaluate": evaluate,
}

if __name__ == "__main__":
    STAGES[sys.argv[1]](*sys.argv[2:])
