"""Lineage tags: what every model version carries so that it can be traced and retrained."""

from __future__ import annotations

from collections.abc import Mapping

REQUIRED_TAGS = (
    "lineage.dataset",
    "lineage.dataset_definition",
    "lineage.batch_number",
    "lineage.batches",
    "lineage.raw_md5s",
    "lineage.dataset_md5",
    "lineage.dataset_key",
    "lineage.code_version",
    "lineage.prefect_flow_run_id",
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
        "lineage.dataset": dataset,
        "lineage.dataset_definition": definition_sha256,
        "lineage.batch_number": str(batch_number),
        "lineage.batches": ",".join(map(str, batches)),
        "lineage.raw_md5s": ",".join(f"{b}:{m}" for b, m in zip(batches, raw_md5s, strict=True)),
        "lineage.dataset_md5": dataset_md5,
        "lineage.dataset_key": dataset_key,
        "lineage.code_version": code_version,
        "lineage.prefect_flow_run_id": flow_run_id,
        "lineage.prefect_pipeline_run_id": pipeline_run_id,
    }


def missing_lineage(tags: Mapping[str, str]) -> list[str]:
    """Required lineage tags that are absent or empty."""
    return [t for t in REQUIRED_TAGS if not tags.get(t)]
