"""One measured workload per process, so its peak RSS is its own.

    python -m bench.workloads {bare|pipeline} LANDING_FILE RESULT_JSON

`bare` is the limit of the job: read the batch, build the same features and split, train the same XGBoost
model and score the holdout, all in memory. `pipeline` runs `training_pipeline(1)` inline (the embedded
mode of `make run`), configured by the MLOPS_* environment the parent sets. Only the work is timed:
interpreter start and imports are not (they are reported apart by the latency section).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd


def peak_rss_bytes() -> int:
    """High-water resident set of this process (Linux reports KiB). Helper processes (MLflow's
    requirement inference, DVC's) are reported apart by `children_peak_rss_bytes`."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def children_peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def bare(landing_file: Path) -> dict[str, Any]:
    from flows.adapters.cpu import cpu_budget
    from flows.adapters.datasets import load_definition
    from flows.logic.evaluation import holdout_metrics
    from flows.logic.features import SPLIT_COLUMN, build_features, encode_labels, loan_ratios, prepare_dataset
    from flows.logic.training import fit, predict, training_params
    from flows.settings import Settings

    loan = load_definition("loan-default", Settings())
    started = time.perf_counter()
    raw = pd.read_csv(landing_file)
    dataset, _ = prepare_dataset([raw], loan)
    model = fit(dataset, loan, training_params(loan, threads=cpu_budget()), loan_ratios(dataset))
    holdout = dataset[dataset[SPLIT_COLUMN] == "holdout"].reset_index(drop=True)
    features = build_features(holdout, loan, loan_ratios(holdout))
    labels = encode_labels(holdout["defaulted"], loan)
    metrics = holdout_metrics("binary", labels, predict(model.booster, features, "binary"))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "roc_auc": metrics["roc_auc"], "frame_bytes": _frame_bytes(raw)}


def pipeline(landing_file: Path) -> dict[str, Any]:
    from flows.training_flow import training_pipeline

    started = time.perf_counter()
    summary = training_pipeline(1)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "roc_auc": summary.score, "frame_bytes": None}


def _frame_bytes(frame: pd.DataFrame) -> int:
    return int(frame.memory_usage(deep=True).sum())


WORKLOADS = {"bare": bare, "pipeline": pipeline}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in WORKLOADS:
        print(__doc__, file=sys.stderr)
        return 2
    kind, landing_file, result_file = argv[0], Path(argv[1]), Path(argv[2])
    result = WORKLOADS[kind](landing_file) | {
        "peak_rss_bytes": peak_rss_bytes(),
        "children_peak_rss_bytes": children_peak_rss_bytes(),
    }
    result_file.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
