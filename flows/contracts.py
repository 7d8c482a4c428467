"""The small metadata that stages pass each other: hashes, run ids, versions. Never bulk data."""

from __future__ import annotations

import os
import socket
from typing import Annotated

from pydantic import BaseModel, Field

# Batches are numbered 1..MAX_BATCH_NUMBER: raw files are named with six digits (batch_000042), so names
# sort in batch order; a batch a day lasts 2,700 years.
MAX_BATCH_NUMBER = 999_999
# A flow parameter: Prefect puts these bounds in the deployment's parameter schema, so the server refuses a
# flow run with a bad batch_number (text, a fraction, 0, negative, huge) before anything runs.
BatchNumber = Annotated[int, Field(ge=1, le=MAX_BATCH_NUMBER, description="landing batch to train on")]
DatasetName = Annotated[
    str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="dataset definition (datasets/<name>/)")
]


class DefinitionRef(BaseModel):
    """A dataset definition as stages receive it: its name, and the hash its text is stored under in the data
    store (`<data>/definitions/<sha256>.yaml`), so every stage of a pipeline reads the same definition."""

    name: str
    sha256: str
    # The hash of the derived-feature code when it is a file beside the definition; "" when there is none.
    features_sha256: str = ""


class StageResult(BaseModel):
    """What every stage returns; `host`/`pid` say where it ran (each stage is its own process)."""

    host: str = Field(default_factory=socket.gethostname)
    pid: int = Field(default_factory=os.getpid)


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


class Retraction(BaseModel):
    """A batch that should not have been accepted: its data stays for audit, later pipelines skip it."""

    batch_number: int
    reason: str
    retracted_at: str  # ISO 8601, UTC
    model_versions: list[str]  # versions trained on it when it was retracted


class IngestResult(StageResult):
    batch_number: int
    raw_versions: list[RawVersion]  # batches 1..N, in order, without retracted ones
    reused: bool


class DatasetVersion(BaseModel):
    key: str  # hash of everything the dataset depends on
    file: FileVersion
    batches: list[int]
    raw_md5s: list[str]
    rows: int
    holdout_rows: int
    # Rows left out for a missing label (`label.missing: drop`).
    dropped_rows: int = 0


class PrepareResult(StageResult):
    dataset: DatasetVersion
    reused: bool
    pulled_md5s: list[str] = []  # what this stage fetched from the DVC remote


class TrainResult(StageResult):
    run_id: str
    model_name: str  # the registered model that evaluate adds the run's model to
    model_uri: str
    train_key: str
    dataset_md5: str
    best_iteration: int
    # The early-stopping metric on the validation split (roc_auc, log_loss, rmse, ...), and its value.
    valid_metric: str
    valid_score: float
    reused: bool
    pulled_md5s: list[str] = []


class EvaluationResult(StageResult):
    model_name: str
    model_version: str
    metrics: dict[str, float]
    champion_version: str | None
    champion_metrics: dict[str, float] | None
    promote: bool
    reason: str
    pulled_md5s: list[str] = []


class PromotionResult(StageResult):
    model_name: str
    model_version: str
    promoted: bool
    # The gate passed against a champion that another pipeline replaced since: evaluate again.
    stale: bool = False
    champion_version: str | None


class ScoringResult(StageResult):
    """One scored batch: which pinned model version scored it, and where the predictions are."""

    environment: str
    batch_number: int
    model_name: str
    model_version: str
    model_run_id: str
    rows: int
    source_uri: str
    source_md5: str
    predictions_uri: str
    record_uri: str


class PipelineSummary(StageResult):
    dataset: str
    batch_number: int
    rows: int
    raw_md5: str
    dataset_md5: str
    model_version: str
    metric: str  # the gate's metric, as the dataset definition names it
    score: float  # its value on the holdout
    champion_version: str | None
    is_champion: bool
    reused: bool
    stage_processes: dict[str, str]  # stage -> "host:pid"


class ReproductionResult(BaseModel):
    """A version retrained from its lineage: the new run, and the holdout metric next to the original's."""

    model_name: str
    model_version: str
    run_id: str
    metric: str
    recorded: float | None  # the version's own holdout metric (None: it was never evaluated)
    reproduced: float
    # What was not as the original had it (code version, threads): why the metrics may differ.
    differences: list[str] = []
