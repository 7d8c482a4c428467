"""One line per stage as a pipeline runs: what it did or reused, and how long it took.

The lines go to the `mlops.progress` logger, which `mlops run` prints (Prefect's own per-task chatter goes
to its log file instead); anywhere else no handler is set and they cost a format call.
"""

from __future__ import annotations

import logging

from flows.contracts import (
    EvaluationResult,
    IngestResult,
    PrepareResult,
    PromotionResult,
    StageResult,
    TrainResult,
)

PROGRESS = logging.getLogger("mlops.progress")


def stage_line(stage: str, result: StageResult, seconds: float) -> str:
    """What a stage's result says, in one line."""
    return f"  {stage:<9}{_what(result)}  ({seconds:.1f} s)"


def _what(result: StageResult) -> str:
    if isinstance(result, IngestResult):
        raw = result.raw_versions[-1] if result.raw_versions else None
        if raw is None:
            return f"batch {result.batch_number}: nothing to ingest"
        did = "unchanged, reused" if result.reused else f"{raw.rows} rows versioned"
        return f"batch {result.batch_number}: {did} (raw md5 {raw.file.md5[:8]})"
    if isinstance(result, PrepareResult):
        dataset = result.dataset
        batches = ",".join(map(str, dataset.batches))
        did = "reused" if result.reused else "built"
        return (
            f"dataset of batch{'es' if len(dataset.batches) > 1 else ''} {batches} {did}: {dataset.rows} "
            f"rows, {dataset.holdout_rows} held out (md5 {dataset.file.md5[:8]})"
        )
    if isinstance(result, TrainResult):
        did = "reused" if result.reused else "trained"
        return (
            f"run {result.run_id[:8]} {did} (valid {result.valid_metric} "
            f"{result.valid_score:.4f}, {result.best_iteration + 1} trees)"
        )
    if isinstance(result, EvaluationResult):
        return f"version {result.model_version}, {'promote' if result.promote else 'keep'}: {result.reason}"
    if isinstance(result, PromotionResult):
        if result.promoted:
            return f"version {result.model_version} is the champion now"
        return f"champion stays version {result.champion_version}"
    return type(result).__name__


def report_stage(stage: str, result: StageResult, seconds: float) -> None:
    PROGRESS.info(stage_line(stage, result, seconds))
