"""The small metadata that stages pass each other: hashes, run ids, versions. Never bulk data."""

from __future__ import annotations

from pydantic import BaseModel


class FileVersion(BaseModel):
    """One file in the DVC remote, addressed by content."""

    md5: str
    size: int


class RawVersion(BaseModel):
    batch_number: int
    file: FileVersion
    rows: int
    source_uri: str
    source_md5: str


class IngestResult(BaseModel):
    batch_number: int
    raw_versions: list[RawVersion]  # batches 1..N, in order
    reused: bool


class DatasetVersion(BaseModel):
    key: str  # hash of everything the dataset depends on
    file: FileVersion
    batches: list[int]
    raw_md5s: list[str]
    rows: int
    holdout_rows: int


class PrepareResult(BaseModel):
    dataset: DatasetVersion
    reused: bool


class TrainResult(BaseModel):
    run_id: str
    model_name: str
    model_version: str
    dataset_md5: str
    best_iteration: int
    valid_roc_auc: float
    reused: bool


class EvaluationResult(BaseModel):
    model_name: str
    model_version: str
    metrics: dict[str, float]
    champion_version: str | None
    champion_metrics: dict[str, float] | None
    promote: bool
    reason: str


class PromotionResult(BaseModel):
    model_name: str
    model_version: str
    promoted: bool
    champion_version: str | None


class PipelineSummary(BaseModel):
    batch_number: int
    rows: int
    raw_md5: str
    dataset_md5: str
    model_version: str
    roc_auc: float
    champion_version: str | None
    is_champion: bool
    reused: bool
