"""Prepare: pull raw batches 1..N by hash, add the ids and the stable split, version the training table.

The table holds the raw columns as they landed (conformed), so the registered model, which takes raw rows,
is evaluated on exactly what a client would send it; features are built from it by the same function in
training, evaluation and the model.
"""

from __future__ import annotations

import hashlib
import json

from prefect import flow, get_run_logger

from flows.adapters.datasets import fetch_definition
from flows.contracts import DatasetVersion, DefinitionRef, PrepareResult, RawVersion
from flows.logic.features import SPLIT_COLUMN, prepare_dataset
from flows.stages.runner import publish, stage_settings
from flows.stages.workspace import stage_workspace
from flows.tasks import data

# Bump when what prepare makes of the same inputs changes: part of its cache key.
PREPARE_VERSION = "2"


def dataset_key(raw_versions: list[RawVersion], definition: DefinitionRef) -> str:
    """Everything the dataset depends on, hashed: same key, same dataset, no recomputation."""
    inputs = {
        "raw": [v.file.md5 for v in raw_versions],
        "prepare": PREPARE_VERSION,
        "definition": definition.sha256,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:32]


@flow(name="prepare", log_prints=True)
def prepare(raw_versions: list[RawVersion], definition: DefinitionRef | None = None) -> PrepareResult:
    settings, definition = stage_settings(definition)
    logger = get_run_logger()
    key = dataset_key(raw_versions, definition)
    existing = data.find_dataset(key, settings)
    if existing is not None:
        logger.info("dataset %s already built (md5 %s): reusing it", key, existing.file.md5)
        return publish(PrepareResult(dataset=existing, reused=True), settings)
    declared = fetch_definition(definition, settings)
    with stage_workspace("prepare", settings) as workspace:
        raw = [
            data.fetch_frame(v.file, data.raw_file(v.batch_number), workspace, settings) for v in raw_versions
        ]
        dataset, dropped = prepare_dataset(raw, declared)
        if dropped:
            logger.info("left out %d row(s) without a label (label.missing: drop)", dropped)
        file = data.version_parts(dataset, f"datasets/{key}", workspace, settings)
    version = DatasetVersion(
        key=key,
        file=file,
        batches=[v.batch_number for v in raw_versions],
        raw_md5s=[v.file.md5 for v in raw_versions],
        rows=len(dataset),
        holdout_rows=int((dataset[SPLIT_COLUMN] == "holdout").sum()),
        dropped_rows=dropped,
    )
    data.record_dataset(version, settings)
    return publish(PrepareResult(dataset=version, reused=False, pulled_md5s=version.raw_md5s), settings)
