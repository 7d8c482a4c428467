"""`make bench-gpu`: 2M rows trained with device=cuda and with CPU hist, on a machine with an NVIDIA GPU.

Runs in the GPU image's dependency set (images/flow-runner-gpu: the CUDA xgboost wheel) and needs nothing
else: the loan demo's rows, the project's features and parameters, a fixed number of rounds for the timing,
then each model's holdout AUC. Prints seconds per boosting round for each device, their ratio and the AUC
difference (which must stay under 0.002), and writes them to bench/results/gpu.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import xgboost as xgb
from sklearn.metrics import roc_auc_score

from flows.feature_code import derive, derived_function
from flows.logic.definition import parse_definition
from flows.logic.demo import generate_batch
from flows.logic.features import prepare_dataset
from flows.logic.training import model_inputs, training_params

ROOT = Path(__file__).resolve().parents[1]
DEFINITION = ROOT / "datasets" / "loan-default" / "dataset.yaml"
ROWS, ROUNDS, MAX_AUC_DIFFERENCE = 2_000_000, 200, 0.002


def _fit(inputs: Any, params: dict[str, Any]) -> tuple[float, float]:
    """Seconds per round and holdout AUC of ROUNDS rounds with `params`."""
    train, holdout = inputs.split == "train", inputs.split == "holdout"
    dtrain = xgb.QuantileDMatrix(inputs.features[train], label=inputs.labels[train])
    started = time.perf_counter()
    booster = xgb.train(params, dtrain, num_boost_round=ROUNDS)
    per_round = (time.perf_counter() - started) / ROUNDS
    scores = booster.predict(xgb.DMatrix(inputs.features[holdout]))
    return per_round, float(roc_auc_score(inputs.labels[holdout], scores))


def main() -> int:
    if not xgb.build_info().get("USE_CUDA"):
        print("bench-gpu needs the CUDA xgboost wheel: run it with `make bench-gpu` (images/flow-runner-gpu)")
        return 2
    definition = parse_definition(DEFINITION.read_text(), str(DEFINITION))
    frame, _ = prepare_dataset([generate_batch(1, ROWS)], definition)
    function = derived_function(definition, DEFINITION.parent)
    inputs = model_inputs(
        frame, definition, None if function is None else derive(function, frame, definition)
    )
    base = {k: v for k, v in training_params(definition, threads=0).items() if k != "nthread"}
    try:
        cuda_round, cuda_auc = _fit(inputs, base | {"device": "cuda"})
    except xgb.core.XGBoostError as exc:
        print(f"no usable NVIDIA GPU: {exc}")
        return 2
    cpu_round, cpu_auc = _fit(inputs, base | {"device": "cpu"})
    result = {
        "rows": ROWS,
        "rounds": ROUNDS,
        "cuda_seconds_per_round": cuda_round,
        "cpu_hist_seconds_per_round": cpu_round,
        "cpu_over_cuda": cpu_round / cuda_round,
        "cuda_auc": cuda_auc,
        "cpu_auc": cpu_auc,
        "auc_difference": abs(cuda_auc - cpu_auc),
    }
    out = ROOT / "bench" / "results" / "gpu.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0 if result["auc_difference"] < MAX_AUC_DIFFERENCE else 1


if __name__ == "__main__":
    sys.exit(main())
