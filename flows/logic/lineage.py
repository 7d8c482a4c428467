"""Lineage tags: what every model version carries so that it can be traced and retrained."""

from __future__ import annotations

from collections.abc import Mapping

from flows.logic.tag_names import (
    LINEAGE_BATCH_NUMBER_TAG,
    LINEAGE_BATCHES_TAG,
    LINEAGE_CODE_VERSION_TAG,
    LINEAGE_DATASET_KEY_TAG,
    LINEAGE_DATASET_MD5_TAG,
    LINEAGE_DATASET_TAG,
    LINEAGE_DEFINITION_TAG,
    LINEAGE_FLOW_RUN_TAG,
    LINEAGE_PIPELINE_RUN_TAG,
    LINEAGE_RAW_MD5S_TAG,
)

REQUIRED_TAGS = (
    LINEAGE_DATASET_TAG,
    LINEAGE_DEFINITION_TAG,
    LINEAGE_BATCH_NUMBER_TAG,
    LINEAGE_BATCHES_TAG,
    LINEAGE_RAW_MD5S_TAG,
    LINEAGE_DATASET_MD5_TAG,
    LINEAGE_DATASET_KEY_TAG,
    LINEAGE_CODE_VERSION_TAG,
    LINEAGE_FLOW_RUN_TAG,
)


def lineage_tags(
    dataset: str,
    definition_sha256: str,
    batch_number: int,
    batches: list[int],
    raw_md5s: list[str],
    dataset_md5: str,
    dataset_key: str,
    code_version: str,
    flow_run_id: str,
    pipeline_run_id: str,
) -> dict[str, str]:
    if len(batches) != len(raw_md5s):
        raise ValueError("one raw md5 per batch is needed")
    return {
        LINEAGE_DATASET_TAG: dataset,
        LINEAGE_DEFINITION_TAG: definition_sha256,
        LINEAGE_BATCH_NUMBER_TAG: str(batch_number),
        LINEAGE_BATCHES_TAG: ",".join(map(str, batches)),
        LINEAGE_RAW_MD5S_TAG: ",".join(f"{b}:{m}" for b, m in zip(batches, raw_md5s, strict=True)),
        LINEAGE_DATASET_MD5_TAG: dataset_md5,
        LINEAGE_DATASET_KEY_TAG: dataset_key,
        LINEAGE_CODE_VERSION_TAG: code_version,
        LINEAGE_FLOW_RUN_TAG: flow_run_id,
        LINEAGE_PIPELINE_RUN_TAG: pipeline_run_id,
    }


def missing_lineage(tags: Mapping[str, str]) -> list[str]:
    """Required lineage tags that are absent or empty."""
    return [t for t in REQUIRED_TAGS if not tags.get(t)]
