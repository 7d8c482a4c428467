"""Ingest: validate landing batch N, then version it with DVC. Nothing is written for a bad batch.

Across batches: a file byte-identical to an earlier batch's, rows whose ids an earlier batch used, and rows
that repeat an earlier batch's rows under new ids are refused here, before anything is written (checked
against each batch's index of ids and row hashes, never its rows). The batch's data report (nulls, label
balance, duplicate rows, each column's drift against the earlier batches' profiles) is a Prefect artifact,
and what the definition's `checks` refuse is refused here too. A retracted batch (`mlops batch retract`)
stays in the store for audit; later pipelines leave it out.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.adapters.datasets import fetch_definition
from flows.contracts import BatchNumber, DefinitionRef, IngestResult, RawVersion
from flows.logic.validation import BatchRejected, index_of, retracted_problem
from flows.stages.runner import publish, stage_settings
from flows.stages.workspace import stage_workspace
from flows.tasks import data


@flow(name="ingest", log_prints=True)
def ingest(batch_number: BatchNumber, definition: DefinitionRef | None = None) -> IngestResult:
    settings, definition = stage_settings(definition)
    dataset = fetch_definition(definition, settings)
    logger = get_run_logger()
    ingested = data.ingested_batches(settings)
    retracted = data.retracted_batches(settings)
    data.check_order(batch_number, ingested)
    if batch_number in retracted:
        raise BatchRejected(batch_number, [retracted_problem(retracted[batch_number], max(ingested) + 1)])
    landing = data.load_landing(batch_number, settings)
    known = ingested.get(batch_number)
    if known is not None and known.source_md5 == landing.md5:
        logger.info("batch %d unchanged since ingestion (md5 %s): reusing it", batch_number, known.file.md5)
        return publish(_result(batch_number, ingested, set(retracted), reused=True), settings)
    if known is not None:
        raise BatchRejected(
            batch_number,
            [
                f"it was already ingested from a file with md5 {known.source_md5}, but {landing.uri} "
                f"now has md5 {landing.md5}: batches are immutable, land changed data as a new batch"
            ],
        )
    # A retracted batch is left out of the checks too: its corrected rows may come back under its ids.
    current = {n: v for n, v in ingested.items() if n not in retracted}
    data.check_new_file(batch_number, landing.md5, current)
    frame = data.validate(batch_number, landing.frame, dataset)
    with stage_workspace("ingest", settings) as workspace:
        earlier, built = data.earlier_indexes(batch_number, current, dataset, workspace, settings)
        index = index_of(frame, dataset)
        report = data.report_batch(batch_number, frame, dataset, index, earlier, settings)
        data.check_new_rows(batch_number, frame, dataset, earlier, report)
        file = data.version_frame(frame, data.raw_file(batch_number), workspace, settings)
    version = RawVersion(
        batch_number=batch_number,
        file=file,
        rows=len(frame),
        source_uri=landing.uri,
        source_md5=landing.md5,
    )
    indexes = {n: earlier[n] for n in built} | {batch_number: index}
    data.record_raw(version, indexes, report, settings)
    versions = {**ingested, batch_number: version}
    return publish(_result(batch_number, versions, set(retracted), reused=False), settings)


def _result(
    batch_number: int, versions: dict[int, RawVersion], retracted: set[int], reused: bool
) -> IngestResult:
    return IngestResult(
        batch_number=batch_number,
        raw_versions=[versions[n] for n in range(1, batch_number + 1) if n not in retracted],
        reused=reused,
    )
