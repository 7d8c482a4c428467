"""Each batch's data report: a Prefect table artifact at ingest, logged with the train run (JSON and plots)
and linked from the gate's decision; the definition's checks refuse a drifted batch with nothing written,
and a copied batch's report says what it repeats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.adapters.datasets import BUNDLED_DATASETS
from flows.logic.data_report import report_key
from flows.logic.demo import generate_batch
from flows.logic.tag_names import GATE_DATA_REPORT_TAG
from flows.tasks.model import DATA_REPORT_FILE
from flows.training_flow import training_pipeline
from tests.integration.conftest import Platform
from tests.integration.helpers import land_frame
from tests.integration.test_bad_batches import assert_rejected_without_trace

ROWS = 1500


def artifact(key: str) -> str:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert found, f"no Prefect artifact {key}"
    latest = max(found, key=lambda a: str(a.created))
    return f"{latest.description}\n{latest.data}"


def test_the_report_travels_from_ingest_to_the_run_and_the_gate_and_a_drifted_batch_is_refused(
    platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The loan demo's definition, refusing a column whose PSI against the earlier batches reaches 0.5.
    own = tmp_path / "datasets" / "loan-default"
    own.mkdir(parents=True)
    text = (BUNDLED_DATASETS / "loan-default" / "dataset.yaml").read_text()
    (own / "dataset.yaml").write_text(text + "checks: {drift_warn: 0.2, drift_refuse: 0.5}\n")
    monkeypatch.setenv("MLOPS_DATASETS_DIR", str(tmp_path / "datasets"))
    for batch in (1, 2):
        land_frame(platform, batch, generate_batch(batch, ROWS))
        summary = training_pipeline(batch)

    table = artifact(report_key("loan-default", 2))
    assert f"Batch 2: {ROWS} rows; compared with batch 1." in table
    assert '"column": "credit_score"' in table and '"psi_vs_earlier"' in table
    client = MlflowClient(platform.tracking_uri, platform.tracking_uri)
    version = client.get_model_version(platform.settings.model_name, summary.model_version)
    run_id = version.run_id or ""
    assert version.tags[GATE_DATA_REPORT_TAG] == f"runs:/{run_id}/{DATA_REPORT_FILE}"
    logged = json.loads(Path(client.download_artifacts(run_id, DATA_REPORT_FILE, str(tmp_path))).read_text())
    assert [r["batch"] for r in logged["batches"]] == [1, 2]
    assert logged["batches"][1]["reference_batches"] == [1] and logged["batches"][1]["rows"] == ROWS
    assert {a.path for a in client.list_artifacts(run_id)} >= {DATA_REPORT_FILE, "data_report.png"}

    older = generate_batch(3, ROWS)
    land_frame(platform, 3, older.assign(age=(older["age"] + 25).clip(upper=100)))
    assert_rejected_without_trace(
        platform, lambda: training_pipeline(3), "column 'age' drifted from batches 1-2: PSI "
    )
    assert "refused: column 'age' drifted" in artifact(report_key("loan-default", 3))

    copied = generate_batch(1, ROWS)
    land_frame(platform, 3, copied.assign(application_id=copied["application_id"] + 10**9))
    assert_rejected_without_trace(platform, lambda: training_pipeline(3), "repeat rows of batch 1")
    assert f"repeating an earlier batch's rows: {ROWS}." in artifact(report_key("loan-default", 3))
