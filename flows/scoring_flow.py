"""score_batch(batch_number): score a landing batch with the model pinned for this environment.

The pin is Git's: the chart renders scoring.model of infra/environments/<env>/values.yaml into the settings
ConfigMap (MLOPS_SCORING_MODEL_NAME / _VERSION), so a merged promotion changes what the next run loads. The
predictions, with the version that made them, go to <MLOPS_DATA_URL>/predictions/<environment>/.
Run one batch: `python flows/scoring_flow.py 4`.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `flows` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd
from prefect import flow, get_run_logger

from flows.adapters.datasets import resolve_definition
from flows.contracts import BatchNumber, DatasetName, ScoringResult
from flows.logic.scoring import ROW_COLUMN, pinned_version, prediction_frame, predictions_stem
from flows.logic.tag_names import LINEAGE_DATASET_TAG
from flows.settings import get_settings
from flows.stages.runner import publish
from flows.tasks import data, model, versions


@flow(name="score", log_prints=True)
def score_batch(batch_number: BatchNumber, dataset: DatasetName | None = None) -> ScoringResult:
    """Score landing batch N of the dataset (none: MLOPS_DATASET's) with the environment's pinned model, a
    raw-row model: it builds its own features from the columns as they landed."""
    settings = get_settings()
    settings = settings.for_dataset(dataset or settings.dataset)
    _, definition = resolve_definition(settings.dataset, settings)
    model_name = settings.scoring_model_name or settings.model_name
    version_number = pinned_version(settings.scoring_model_version, settings.environment)
    version = versions.load_version(model_name, version_number, settings)
    get_run_logger().info(
        "environment %s scores batch %d with its pinned %s version %s (run %s)",
        settings.environment,
        batch_number,
        model_name,
        version_number,
        version.run_id,
    )
    trained_on = (version.tags or {}).get(LINEAGE_DATASET_TAG, settings.dataset)
    if trained_on != settings.dataset:
        raise ValueError(
            f"{model_name} version {version_number} was trained on dataset {trained_on!r}, not "
            f"{settings.dataset!r}: pin a model of {settings.dataset!r} (scoring.model), or score "
            f"{trained_on!r}"
        )
    landing = data.load_landing(batch_number, settings)
    batch = data.validate(batch_number, landing.frame, definition, label_required=False)
    answer = model.predictions(version, batch.loc[:, definition.feature_columns], settings)
    stem = f"{settings.predictions_url}/{predictions_stem(batch_number, model_name, version_number)}"
    result = ScoringResult(
        environment=settings.environment,
        batch_number=batch_number,
        model_name=model_name,
        model_version=version_number,
        model_run_id=version.run_id or "",
        rows=len(batch),
        source_uri=landing.uri,
        source_md5=landing.md5,
        predictions_uri=f"{stem}.parquet",
        record_uri=f"{stem}.json",
    )
    ids = batch[definition.id] if definition.id else pd.Series(range(len(batch)), name=ROW_COLUMN)
    predictions = prediction_frame(ids, answer, model_name, version_number)
    data.write_predictions(predictions, result, settings)
    return publish(result, settings)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python flows/scoring_flow.py BATCH_NUMBER")
    print(score_batch(int(sys.argv[1])).model_dump_json(indent=2))
