"""Prefect tasks for data: load, validate, version (DVC push), fetch (DVC pull by hash), write predictions."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.adapters.catalog import Catalog, raw_stem
from flows.adapters.dvc_store import DvcStore
from flows.adapters.landing import LandingFile, read_landing_batch
from flows.adapters.memory import memory_limit, rss_bytes
from flows.adapters.objectstore import open_fs, write_json
from flows.adapters.parquet import read_parquet, read_parquet_head, write_parquet, write_parquet_parts
from flows.contracts import DatasetVersion, FileVersion, RawVersion, Retraction, ScoringResult
from flows.feature_code import DerivedFeatures
from flows.logic.contract import conform, frame_problems
from flows.logic.data_report import (
    BatchReports,
    DataReport,
    data_report,
    report_key,
    report_markdown,
    report_table,
)
from flows.logic.definition import DatasetDefinition
from flows.logic.features import SPLIT_COLUMN, id_column, with_ids
from flows.logic.preflight import SAMPLE_ROWS, MemoryPreflightError, memory_refusal, sampled_fit_memory
from flows.logic.validation import (
    BatchIndex,
    BatchRejected,
    check_batch_order,
    identical_file_problem,
    index_of,
    members,
    repeated_row_problems,
    reused_id_problems,
    sorted_ids,
)
from flows.settings import Settings
from flows.tasks.retry import IO_RETRIES


def raw_file(batch_number: int) -> str:
    """Where a raw batch lives in a stage's DVC workspace (its name in the remote is its md5)."""
    return f"raw/{raw_stem(batch_number)}.parquet"


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def ingested_batches(settings: Settings) -> dict[int, RawVersion]:
    """What the catalog says has been ingested."""
    return Catalog(settings).raw_versions()


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def retracted_batches(settings: Settings) -> dict[int, Retraction]:
    return Catalog(settings).retractions()


@task(cache_policy=NO_CACHE)
def check_order(batch_number: int, ingested: dict[int, RawVersion]) -> None:
    problems = check_batch_order(batch_number, ingested)
    if problems:
        raise BatchRejected(batch_number, problems)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def load_landing(batch_number: int, settings: Settings) -> LandingFile:
    landing = read_landing_batch(batch_number, settings)
    get_run_logger().info("read %s: %d rows, md5 %s", landing.uri, len(landing.frame), landing.md5)
    return landing


@task(cache_policy=NO_CACHE)
def validate(
    batch_number: int, frame: pd.DataFrame, definition: DatasetDefinition, label_required: bool = True
) -> pd.DataFrame:
    """The batch in canonical form, or BatchRejected listing every problem."""
    problems = frame_problems(frame, definition, label_required)
    if problems:
        raise BatchRejected(batch_number, problems)
    return conform(frame, definition, label_required)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def version_frame(
    frame: pd.DataFrame, relative_path: str, workspace: Path, settings: Settings
) -> FileVersion:
    """Write the frame as Parquet in the workspace, then `dvc add` + `dvc push` it."""
    store = DvcStore(workspace, settings)
    target = workspace / relative_path
    target.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(frame, target)
    version = store.push(relative_path)
    get_run_logger().info("pushed %s: md5 %s, %d bytes", relative_path, version.md5, version.size)
    return version


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def version_parts(frame: pd.DataFrame, relative_dir: str, workspace: Path, settings: Settings) -> FileVersion:
    """Write the frame as a directory of Parquet parts (`MLOPS_DATASET_PART_BYTES` each) in the workspace,
    then `dvc add` + `dvc push` it: the workers of the dask engine read the parts by their md5s."""
    target = workspace / relative_dir
    if target.exists():  # a retry's: the parts are written anew
        shutil.rmtree(target)
    parts = write_parquet_parts(frame, target, settings.dataset_part_bytes)
    version = DvcStore(workspace, settings).push(relative_dir)
    get_run_logger().info(
        "pushed %s: %d parts, md5 %s, %d bytes", relative_dir, parts, version.md5, version.size
    )
    return version


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def fetch_frame(
    version: FileVersion,
    relative_path: str,
    workspace: Path,
    settings: Settings,
    only_split: str | None = None,
) -> pd.DataFrame:
    """`dvc pull` the file with this md5 from the remote and read it (one split's rows, when given)."""
    path = DvcStore(workspace, settings).pull(version, relative_path)
    get_run_logger().info("pulled %s by md5 %s", relative_path, version.md5)
    return read_parquet(path, [(SPLIT_COLUMN, "==", only_split)] if only_split else None)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def pull_file(version: FileVersion, relative_path: str, workspace: Path, settings: Settings) -> Path:
    """`dvc pull` the file with this md5 from the remote (to disk only)."""
    path = DvcStore(workspace, settings).pull(version, relative_path)
    get_run_logger().info("pulled %s by md5 %s", relative_path, version.md5)
    return path


@task(cache_policy=NO_CACHE)
def check_memory(
    path: Path,
    rows: int,
    definition: DatasetDefinition,
    function: DerivedFeatures | None,
    settings: Settings,
) -> None:
    """Refuse, before the dataset is read, to train it where it does not fit (MemoryPreflightError, which
    says what to do instead): its bytes a row measured on its first rows, times its rows, against this
    process's memory limit (`MLOPS_MEMORY_LIMIT`, else its cgroup's)."""
    sample = read_parquet_head(path, SAMPLE_ROWS)
    needed, per_row = sampled_fit_memory(sample, rows, definition, function)
    limit = settings.memory_limit or memory_limit()
    in_use = rss_bytes()
    refusal = memory_refusal(needed, in_use, limit, rows, per_row)
    if refusal:
        raise MemoryPreflightError(refusal)
    get_run_logger().info(
        "memory preflight: about %.2f GiB for %d rows, limit %s",
        (in_use + needed) / 1024**3,
        rows,
        "none" if limit is None else f"{limit / 1024**3:.2f} GiB",
    )


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def earlier_indexes(
    batch_number: int,
    ingested: dict[int, RawVersion],
    definition: DatasetDefinition,
    workspace: Path,
    settings: Settings,
) -> tuple[dict[int, BatchIndex], list[int]]:
    """The index of every other ingested batch, and which of them had none yet (batches ingested before
    indexes were kept: their index is built once from their data, and kept when this ingest succeeds)."""
    catalog = Catalog(settings)
    indexes: dict[int, BatchIndex] = {}
    built: list[int] = []
    for number, version in sorted(ingested.items()):
        if number == batch_number:
            continue
        index = catalog.index(number)
        if index is None:
            path = DvcStore(workspace, settings).pull(version.file, raw_file(number))
            index = index_of(read_parquet(path), definition)
            built.append(number)
        indexes[number] = index
    return indexes, built


@task(cache_policy=NO_CACHE)
def check_new_rows(
    batch_number: int,
    frame: pd.DataFrame,
    definition: DatasetDefinition,
    earlier: dict[int, BatchIndex],
    report: DataReport,
) -> None:
    """Refuse a batch that reuses earlier batches' ids (it would be versioned, then wedge every prepare),
    repeats their rows under new ids (copied rows leak into the holdout and fool the gate), or breaks what
    its data report's checks refuse (all of them at once).

    Without an id column a row's id is its content: a row equal to an earlier one has its id and so its
    split, and cannot leak; such rows are kept (real tables hold equal rows) and counted, and only a batch
    that brings no new row at all is refused.
    """
    ids = id_column(definition)
    framed = with_ids(frame, definition)
    if definition.id is not None:
        problems = reused_id_problems(framed[ids], {n: i.ids for n, i in earlier.items()})
        problems += repeated_row_problems(framed, ids, {n: i.rows for n, i in earlier.items()})
        if problems or report.refusals:
            raise BatchRejected(batch_number, problems + report.refusals)
        return
    seen = [np.empty(0, dtype=np.int64)] + [i.ids for i in earlier.values()]
    repeated = int(members(framed[ids].to_numpy(), sorted_ids(pd.Series(np.concatenate(seen)))).sum())
    nothing_new = [f"all {repeated} rows repeat rows of earlier batches: the batch brings nothing new"]
    if repeated == len(framed) or report.refusals:
        raise BatchRejected(batch_number, (nothing_new if repeated == len(framed) else []) + report.refusals)
    if repeated:
        get_run_logger().info(
            "%d row(s) equal rows of earlier batches; kept (equal rows share a split)", repeated
        )


@task(cache_policy=NO_CACHE)
def check_new_file(batch_number: int, source_md5: str, ingested: dict[int, RawVersion]) -> None:
    """Refuse a landing file that is byte for byte an earlier batch's (a copy, or a symlink to it)."""
    problem = identical_file_problem(
        source_md5, {n: v.source_md5 for n, v in ingested.items() if n != batch_number}
    )
    if problem:
        raise BatchRejected(batch_number, [problem])


@task(cache_policy=NO_CACHE)
def report_batch(
    batch_number: int,
    frame: pd.DataFrame,
    definition: DatasetDefinition,
    index: BatchIndex,
    earlier: dict[int, BatchIndex],
    settings: Settings,
) -> DataReport:
    """The batch's data report against the earlier batches, as a Prefect table artifact (a batch about to be
    refused gets one too: it shows what it holds); its warnings go to the log, its refusals are
    `check_new_rows`' to raise with the others."""
    repeated = sum(int(members(index.rows, e.rows).sum()) for e in earlier.values())
    profiles = {n: i.profile for n, i in earlier.items()}
    report = data_report(
        batch_number, frame, definition, index.profile, profiles, index.duplicate_rows, repeated
    )
    logger = get_run_logger()
    for warning in report.warnings:
        logger.warning("batch %d: %s", batch_number, warning)
    create_table_artifact(
        table=report_table(report),
        key=report_key(settings.dataset, batch_number),
        description=report_markdown(report),
    )
    return report


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def record_raw(
    version: RawVersion, indexes: dict[int, BatchIndex], report: DataReport, settings: Settings
) -> None:
    """The batch's record, after its index and report (and any earlier batch's index that was built for
    it)."""
    catalog = Catalog(settings)
    for number, index in indexes.items():
        catalog.record_index(number, index)
    catalog.record_report(report.to_json())
    catalog.record_raw(version)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def batch_reports(batches: list[int], settings: Settings) -> BatchReports:
    """The catalog's reports and profiles of these batches (those it has)."""
    catalog = Catalog(settings)
    reports = {n: r for n in batches if (r := catalog.report(n)) is not None}
    profiles = {n: p for n in batches if (p := catalog.profile(n)) is not None}
    return BatchReports(reports, profiles)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def find_dataset(key: str, settings: Settings) -> DatasetVersion | None:
    return Catalog(settings).dataset(key)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def record_dataset(version: DatasetVersion, settings: Settings) -> None:
    Catalog(settings).record_dataset(version)


@task(cache_policy=NO_CACHE, **IO_RETRIES)
def write_predictions(predictions: pd.DataFrame, result: ScoringResult, settings: Settings) -> None:
    """The predictions as Parquet, then their record as JSON: a record means its predictions are complete."""
    fs, path = open_fs(result.predictions_uri, settings)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as handle:
        predictions.to_parquet(handle, index=False)
    fs, path = open_fs(result.record_uri, settings)
    write_json(fs, path, result.model_dump(mode="json"))
    get_run_logger().info("wrote %d predictions to %s", len(predictions), result.predictions_uri)
