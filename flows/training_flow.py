"""training_pipeline(batch_number): ingest -> prepare -> train -> evaluate -> promote.

Only metadata (hashes, run ids, versions) passes between stages; bulk data moves through DVC.
Run one batch the seed's way: `python flows/training_flow.py 1`.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `flows` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from flows.settings import get_settings as _settings
    from flows.settings import use_embedded_prefect

    use_embedded_prefect(_settings())  # the same Prefect home as `mlops run`, before Prefect is imported

from prefect import flow

from flows.adapters.datasets import resolve_definition
from flows.contracts import (
    BatchNumber,
    DatasetName,
    PipelineSummary,
)
from flows.settings import get_settings
from flows.stages.registry import EVALUATE, INGEST, PREPARE, PROMOTE, TRAIN
from flows.stages.runner import publish, run_stage, run_stages

PIPELINE_NAME = "ML Training Pipeline"


PROMOTION_ATTEMPTS = 3


@flow(name=PIPELINE_NAME, log_prints=True)
def training_pipeline(
    batch_number: BatchNumber, candidates: int = 1, dataset: DatasetName | None = None
) -> PipelineSummary:
    """Each stage runs in turn (inline, or as its own flow run on the work pool); a failed stage
    fails the pipeline with that stage's error and nothing after it runs.

    `dataset` names the definition (`datasets/<name>/dataset.yaml`, or one published with
    `mlops dataset publish`); none: MLOPS_DATASET's. `candidates` > 1 fans training out into that many of
    the definition's hyperparameter sets (parallel flow runs on the pool); all are logged to MLflow, and
    evaluate registers the best on the validation split.
    """
    settings = get_settings()
    settings = settings.for_dataset(dataset or settings.dataset)
    ref, definition = resolve_definition(settings.dataset, settings)
    overrides = definition.training.first_candidates(candidates)
    ingested = run_stage(INGEST, settings, batch_number=batch_number, definition=ref)
    prepared = run_stage(PREPARE, settings, raw_versions=ingested.raw_versions, definition=ref)
    if candidates == 1:
        trained = run_stage(
            TRAIN, settings, dataset=prepared.dataset, batch_number=batch_number, definition=ref
        )
    else:
        parameter_sets = [
            {
                "dataset": prepared.dataset,
                "batch_number": batch_number,
                "definition": ref,
                "params": params,
            }
            for params in overrides
        ]
        from flows.stages.train import best_of  # imported for a fan-out only

        trained = best_of(run_stages(TRAIN, settings, parameter_sets))
    # A decision made against a champion that a concurrent pipeline has since replaced is made again.
    for _ in range(PROMOTION_ATTEMPTS):
        evaluation = run_stage(
            EVALUATE,
            settings,
            trained=trained,
            dataset=prepared.dataset,
            batch_number=batch_number,
            definition=ref,
        )
        promotion = run_stage(PROMOTE, settings, evaluation=evaluation, definition=ref)
        if not promotion.stale:
            break
    else:
        raise RuntimeError(
            f"the champion kept changing while batch {batch_number} was evaluated "
            f"({PROMOTION_ATTEMPTS} attempts); run the batch again"
        )
    stages = {
        "ingest": ingested,
        "prepare": prepared,
        "train": trained,
        "evaluate": evaluation,
        "promote": promotion,
    }
    summary = PipelineSummary(
        dataset=settings.dataset,
        batch_number=batch_number,
        rows=prepared.dataset.rows,
        raw_md5=ingested.raw_versions[-1].file.md5,
        dataset_md5=prepared.dataset.file.md5,
        model_version=evaluation.model_version,
        metric=definition.metric_name,
        score=evaluation.metrics[definition.metric_name],
        champion_version=promotion.champion_version,
        is_champion=promotion.champion_version == evaluation.model_version,
        reused=ingested.reused and prepared.reused and trained.reused,
        stage_processes={name: f"{result.host}:{result.pid}" for name, result in stages.items()},
    )
    return publish(summary, settings)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python flows/training_flow.py BATCH_NUMBER")
    print(training_pipeline(int(sys.argv[1])).model_dump_json(indent=2))
