"""training_pipeline(batch_number): ingest -> prepare -> train -> evaluate -> promote.

Only metadata (hashes, run ids, versions) passes between stages; bulk data moves through DVC.
Run one batch the seed's way: `python flows/training_flow.py 1`.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `flows` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prefect import flow

from flows.contracts import PipelineSummary
from flows.stages.evaluate import evaluate
from flows.stages.ingest import ingest
from flows.stages.prepare import prepare
from flows.stages.promote import promote
from flows.stages.train import train

PIPELINE_NAME = "ML Training Pipeline"


@flow(name=PIPELINE_NAME, log_prints=True)
def training_pipeline(batch_number: int) -> PipelineSummary:
    ingested = ingest(batch_number)
    prepared = prepare(ingested.raw_versions)
    trained = train(prepared.dataset, batch_number)
    evaluation = evaluate(trained, prepared.dataset, batch_number)
    promotion = promote(evaluation)
    return PipelineSummary(
        batch_number=batch_number,
        rows=prepared.dataset.rows,
        raw_md5=ingested.raw_versions[-1].file.md5,
        dataset_md5=prepared.dataset.file.md5,
        model_version=trained.model_version,
        roc_auc=evaluation.metrics["roc_auc"],
        champion_version=promotion.champion_version,
        is_champion=promotion.champion_version == trained.model_version,
        reused=ingested.reused and prepared.reused and trained.reused,
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python flows/training_flow.py BATCH_NUMBER")
    print(training_pipeline(int(sys.argv[1])).model_dump_json(indent=2))
