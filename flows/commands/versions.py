"""`mlops lineage`, `mlops data get`, `mlops reproduce`, `mlops batch retract`: a model version's history
and data, named as NAME@ALIAS or NAME/VERSION."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from flows.logic.tag_names import (
    GATE_DECISION_TAG,
    GATE_REASON_TAG,
    LINEAGE_BATCH_NUMBER_TAG,
    LINEAGE_BATCHES_TAG,
    LINEAGE_CODE_VERSION_TAG,
    LINEAGE_DATASET_MD5_TAG,
    LINEAGE_DATASET_TAG,
    LINEAGE_DEFINITION_TAG,
    LINEAGE_FLOW_RUN_TAG,
    LINEAGE_PIPELINE_RUN_TAG,
    LINEAGE_RAW_MD5S_TAG,
)
from flows.settings import Settings


def parse_model_ref(ref: str) -> tuple[str, str | None, str | None]:
    """'name@alias' or 'name/version' -> (name, alias, version)."""
    if "@" in ref:
        name, alias = ref.split("@", 1)
        if name and alias:
            return name, alias, None
    elif "/" in ref:
        name, version = ref.rsplit("/", 1)
        if name and version.isdigit():
            return name, None, version
    raise ValueError(f"expected NAME@ALIAS or NAME/VERSION, got {ref!r}")


def model_version(ref: str, settings: Settings, command: str) -> tuple[Any, str | None] | int:
    """The registered version `ref` names and its alias, or the exit code after saying why there is none."""
    from flows.adapters.tracking import connect

    try:
        name, alias, version = parse_model_ref(ref)
    except ValueError as exc:
        print(f"mlops {command}: {exc}", file=sys.stderr)
        return 2
    client = connect(settings)
    names = [name, settings.for_dataset(name).model_name] if _is_dataset_name(name) else [name]
    failure: Exception | None = None
    for candidate in names:  # a dataset's name stands for its model (loan-default: loan-default-xgb)
        try:
            found = (
                client.get_model_version_by_alias(candidate, alias)
                if alias
                else client.get_model_version(candidate, version or "")
            )
            return found, alias
        except Exception as exc:
            failure = failure or exc
    print(f"mlops {command}: no model version {ref}: {failure}", file=sys.stderr)
    return 1


def _is_dataset_name(name: str) -> bool:
    import re

    return re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", name) is not None


def version_settings(tags: dict[str, str], settings: Settings) -> Settings:
    """The settings of the dataset a version was trained on (its catalog, landing and model)."""
    return settings.for_dataset(tags.get(LINEAGE_DATASET_TAG) or settings.dataset)


def retract_batch(batch: int, reason: str, force: bool, settings: Settings) -> int:
    """Record a retraction; refused for a batch that registered versions used, unless forced."""
    from datetime import UTC, datetime

    from flows.adapters.catalog import Catalog
    from flows.adapters.tracking import connect, model_versions
    from flows.contracts import Retraction
    from flows.logic.validation import versions_trained_on

    catalog = Catalog(settings)
    if batch not in catalog.raw_versions():
        print(f"mlops batch retract: batch {batch} was never ingested", file=sys.stderr)
        return 1
    if batch in catalog.retractions():
        print(f"mlops batch retract: batch {batch} is retracted already", file=sys.stderr)
        return 1
    registered = model_versions(connect(settings), settings.model_name)
    used = versions_trained_on(
        batch, {str(v.version): v.tags.get(LINEAGE_BATCHES_TAG, "") for v in registered}
    )
    if used and not force:
        print(
            f"mlops batch retract: {settings.model_name} version(s) {', '.join(used)} were trained on batch "
            f"{batch}; they stay as they are (retract does not change the registry). Pass --force to retract "
            "it all the same",
            file=sys.stderr,
        )
        return 1
    now = datetime.now(UTC).isoformat(timespec="seconds")
    catalog.retract(Retraction(batch_number=batch, reason=reason, retracted_at=now, model_versions=used))
    print(f"batch {batch} retracted ({reason}): its data stays in the store, later pipelines leave it out")
    if used:
        print(f"trained on it: {settings.model_name} version(s) {', '.join(used)} (`mlops lineage` says so)")
    return 0


def data_get(ref: str, directory: Path, raw: bool, settings: Settings) -> int:
    from flows.adapters.catalog import Catalog
    from flows.data_access import DataGetError, lineage_files, restore

    found = model_version(ref, settings, "data get")
    if isinstance(found, int):
        return found
    mv, _ = found
    try:
        tags = dict(mv.tags or {})
        files = lineage_files(tags, Catalog(version_settings(tags, settings)), raw)
        restored = restore(files, directory, settings)
    except DataGetError as exc:
        print(f"mlops data get: {exc}", file=sys.stderr)
        return 1
    print(f"{mv.name} version {mv.version}: restored into {directory} with plain DVC; it ran, there:")
    print("\n".join(f"  {command}" for command in restored.commands))
    for name, md5 in restored.files.items():
        print(f"{name}  md5 {md5}")
    return 0


def reproduce_version(ref: str, settings: Settings) -> int:
    from flows.reproduce_flow import ReproductionError, reproduce

    found = model_version(ref, settings, "reproduce")
    if isinstance(found, int):
        return found
    version = found[0]
    try:
        result = reproduce(version.name, str(version.version))
    except (ReproductionError, ValueError) as exc:  # a definition that is gone or damaged is a ValueError
        print(f"mlops reproduce: {exc}", file=sys.stderr)
        return 1
    recorded = "not recorded" if result.recorded is None else f"{result.recorded:.6f}"
    print(f"{result.model_name} version {result.model_version} reproduced as MLflow run {result.run_id}")
    print(f"  holdout {result.metric}: {result.reproduced:.6f} (the original's: {recorded})")
    if result.recorded is not None:
        print(f"  difference: {abs(result.reproduced - result.recorded):.2e}")
    for difference in result.differences:
        print(f"  not as the original: {difference}")
    return 0


def show_lineage(ref: str, settings: Settings) -> int:
    from flows.adapters.catalog import Catalog
    from flows.logic.lineage import missing_lineage

    found = model_version(ref, settings, "lineage")
    if isinstance(found, int):
        return found
    mv, alias = found
    tags = dict(mv.tags or {})
    retracted = Catalog(version_settings(tags, settings)).retractions()
    trained_on = [int(b) for b in filter(None, tags.get(LINEAGE_BATCHES_TAG, "").split(","))]
    retracted_rows = [
        ("retracted batch", f"{r.batch_number}: {r.reason} ({r.retracted_at})")
        for n, r in sorted(retracted.items())
        if n in trained_on
    ]
    rows = [
        ("model", f"{mv.name} version {mv.version}" + (f" (@{alias})" if alias else "")),
        ("dataset", tags.get(LINEAGE_DATASET_TAG, "?")),
        ("definition sha256", tags.get(LINEAGE_DEFINITION_TAG, "?")),
        ("aliases", ", ".join(mv.aliases or []) or "-"),
        ("batch", tags.get(LINEAGE_BATCH_NUMBER_TAG, "?")),
        ("trained on batches", tags.get(LINEAGE_BATCHES_TAG, "?")),
        ("raw data md5 (batch:md5)", tags.get(LINEAGE_RAW_MD5S_TAG, "?")),
        ("dataset md5", tags.get(LINEAGE_DATASET_MD5_TAG, "?")),
        ("code version", tags.get(LINEAGE_CODE_VERSION_TAG, "?")),
        ("prefect flow run (train)", tags.get(LINEAGE_FLOW_RUN_TAG, "?")),
        ("prefect pipeline run", tags.get(LINEAGE_PIPELINE_RUN_TAG, "?")),
        ("mlflow run", mv.run_id or "?"),
        ("gate", f"{tags.get(GATE_DECISION_TAG, '?')}: {tags.get(GATE_REASON_TAG, '')}"),
        *retracted_rows,
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    missing = missing_lineage(tags)
    if missing:
        print(f"incomplete lineage: missing {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0
