"""The line each stage's result prints as `mlops run` goes: what it did or reused, and its seconds."""

from __future__ import annotations

from flows.contracts import (
    DatasetVersion,
    EvaluationResult,
    FileVersion,
    IngestResult,
    PrepareResult,
    PromotionResult,
    RawVersion,
    TrainResult,
)
from flows.progress import stage_line

FILE = FileVersion(md5="0123456789abcdef0123456789abcdef", size=10)
RAW = RawVersion(batch_number=2, file=FILE, rows=20000, source_uri="s3://l/batch_2.csv", source_md5="x")
DATASET = DatasetVersion(key="k", file=FILE, batches=[1, 2], raw_md5s=[], rows=40000, holdout_rows=8000)


def test_each_stage_says_what_it_did_or_reused() -> None:
    assert stage_line("ingest", IngestResult(batch_number=2, raw_versions=[RAW], reused=False), 1.24) == (
        "  ingest   batch 2: 20000 rows versioned (raw md5 01234567)  (1.2 s)"
    )
    assert "batch 2: unchanged, reused" in stage_line(
        "ingest", IngestResult(batch_number=2, raw_versions=[RAW], reused=True), 0.1
    )
    assert stage_line("prepare", PrepareResult(dataset=DATASET, reused=True), 0.5) == (
        "  prepare  dataset of batches 1,2 reused: 40000 rows, 8000 held out (md5 01234567)  (0.5 s)"
    )
    trained = TrainResult(
        run_id="3f2a9c1e77d04b",
        model_name="loan-default-xgb",
        model_uri="m",
        train_key="t",
        dataset_md5="d",
        best_iteration=41,
        valid_metric="roc_auc",
        valid_score=0.71234,
        reused=False,
    )
    assert "run 3f2a9c1e trained (valid roc_auc 0.7123, 42 trees)" in stage_line("train", trained, 3.0)
    evaluation = EvaluationResult(
        model_name="m",
        model_version="2",
        metrics={},
        champion_version="1",
        champion_metrics={},
        promote=False,
        reason="ROC AUC 0.70 is below margin",
    )
    assert "version 2, keep: ROC AUC 0.70 is below margin" in stage_line("evaluate", evaluation, 1.0)
    kept = PromotionResult(model_name="m", model_version="2", promoted=False, champion_version="1")
    assert "champion stays version 1" in stage_line("promote", kept, 0.2)
