"""Prepare: pull raw batches 1..N by hash, build features and the stable split, version the dataset."""

from __future__ import annotations

import hashlib
import json

from prefect import flow, get_run_logger

from flows.contracts import DatasetVersion, PrepareResult, RawVersion
from flows.logic.features import FEATURES_VERSION, SPLIT_COLUMN, prepare_dataset
from flows.settings import Settings, get_settings
from flows.stages.runner import publish
from flows.stages.workspace import stage_workspace
from flows.tasks import data


def dataset_key(raw_versions: list[RawVersion], settings: Settings) -> str:
    """Everything the dataset depends on, hashed: same key, same dataset, no recomputation."""
    inputs = {
        "raw": [v.file.md5 for v in raw_versions],
        "features": FEATURES_VERSION,
        "holdout_fraction": settings.holdout_fraction,
        "validation_fraction": settings.validation_fraction,
        "seed": settings.seed,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:32]


@flow(name="prepare", log_prints=True)
def prepare(raw_versions: list[RawVersion]) -> PrepareResult:
    settings = get_settings()
    key = dataset_key(raw_versions, settings)
    existing = data.find_dataset(key, settings)
    if existing is not None:
        get_run_logger().info("dataset %s already built (md5 %s): reusing it", key, existing.file.md5)
        return publish(PrepareResult(dataset=existing, reused=True), settings)
    with stage_workspace("prepare", settings) as workspace:
        raw = [
            data.fetch_frame(v.file, data.raw_file(v.batch_number), workspace, settings) for v in raw_versions
        ]
        dataset = prepare_dataset(raw, settings.holdout_fraction, settings.validation_fraction, settings.seed)
        file = data.version_frame(dataset, f"datasets/{key}.parquet", workspace, settings)
    version = DatasetVersion(
        key=key,
        file=file,
        batches=[v.batch_number for v in raw_versions],
        raw_md5s=[v.file.md5 for v in raw_versions],
        rows=len(dataset),
        holdout_rows=int((dataset[SPLIT_COLUMN] == "holdout").sum()),
    )
    data.record_dataset(version, settings)
    return publish(PrepareResult(dataset=version, reused=False, pulled_md5s=version.raw_md5s), settings)
