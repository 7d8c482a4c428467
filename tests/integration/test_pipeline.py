"""Batches 1 -> 2 -> 3 through the real stack: MinIO (DVC remote), MLflow server, Prefect API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow import MlflowClient
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.adapters.catalog import Catalog
from flows.adapters.dvc_store import content_md5
from flows.adapters.parquet import read_parquet
from flows.contracts import EvaluationResult, PipelineSummary
from flows.logic.contract import conform
from flows.logic.demo import generate_batch
from flows.logic.features import prepare_dataset
from flows.logic.lineage import missing_lineage
from flows.logic.tag_names import EVALUATION_OF_TAG
from flows.stages.evaluate import artifact_key
from flows.stages.promote import promote
from flows.training_flow import training_pipeline
from tests.definitions import loan
from tests.integration.conftest import DATA_BUCKET, Platform
from tests.integration.helpers import land_frame, registry_state, remote_objects

ROWS = 2500


@pytest.fixture(scope="module")
def three_batches(module_platform: Platform) -> tuple[Platform, list[PipelineSummary]]:
    platform = module_platform
    for batch in (1, 2, 3):
        land_frame(platform, batch, generate_batch(batch, ROWS), fmt="parquet" if batch == 2 else "csv")
    return platform, [training_pipeline(batch) for batch in (1, 2, 3)]


def dvc_pull_into_empty_dir(platform: Platform, md5: str, size: int, workdir: Path) -> Path:
    """Plain `dvc` commands in a new directory, knowing only the remote and the hash: where the data is."""
    workdir.mkdir()
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    dvc = [sys.executable, "-m", "dvc"]

    def run(*args: str) -> None:
        subprocess.run([*dvc, *args], cwd=workdir, env=env, check=True, capture_output=True)

    run("init", "--no-scm")
    run("remote", "add", "-d", "store", f"s3://{DATA_BUCKET}/{platform.data_prefix}/dvc")
    run("remote", "modify", "store", "endpointurl", platform.services.minio_url)
    (workdir / "data.dvc").write_text(f"outs:\n- md5: {md5}\n  size: {size}\n  hash: md5\n  path: data\n")
    run("pull", "data.dvc")
    return workdir / "data"


def test_three_batches_give_three_versions_with_lineage(
    three_batches: tuple[Platform, list[PipelineSummary]], tmp_path: Path
) -> None:
    platform, summaries = three_batches
    client = MlflowClient(platform.tracking_uri, platform.tracking_uri)
    versions, _ = registry_state(platform)
    assert versions == ["1", "2", "3"]
    assert [s.rows for s in summaries] == [ROWS, 2 * ROWS, 3 * ROWS]
    datasets = {d.file.md5: d for d in Catalog(platform.settings).datasets()}
    raws = Catalog(platform.settings).raw_versions()
    for batch, summary in enumerate(summaries, 1):
        version = client.get_model_version(platform.settings.model_name, summary.model_version)
        tags = version.tags
        assert missing_lineage(tags) == []
        assert tags["lineage.dataset_md5"] == summary.dataset_md5
        assert tags["lineage.batches"] == ",".join(str(n) for n in range(1, batch + 1))
        assert tags["lineage.raw_md5s"].split(",") == [f"{n}:{raws[n].file.md5}" for n in range(1, batch + 1)]
        # The exact dataset the model trained on comes back from MinIO by its hash alone ...
        dataset = datasets[summary.dataset_md5]
        data = dvc_pull_into_empty_dir(platform, dataset.file.md5, dataset.file.size, tmp_path / f"b{batch}")
        assert data.is_dir() and content_md5(data) == tags["lineage.dataset_md5"]  # its parts, each by md5
        # ... and is what the pure functions make of the landed batches.
        pulled = read_parquet(data)
        expected, _ = prepare_dataset(
            [conform(generate_batch(n, ROWS), loan()) for n in range(1, batch + 1)], loan()
        )
        pd.testing.assert_frame_equal(pulled, expected)


def test_runs_carry_params_metrics_model_and_plot(
    three_batches: tuple[Platform, list[PipelineSummary]],
) -> None:
    platform, summaries = three_batches
    client = MlflowClient(platform.tracking_uri, platform.tracking_uri)
    for summary in summaries:
        version = client.get_model_version(platform.settings.model_name, summary.model_version)
        assert version.run_id
        run = client.get_run(version.run_id)
        assert run.data.params["max_depth"] and run.data.params["seed"] == "42"
        for metric in ("valid_roc_auc", "holdout_roc_auc", "holdout_log_loss", "holdout_accuracy"):
            assert metric in run.data.metrics
        assert summary.metric == "roc_auc"
        assert run.data.metrics["holdout_roc_auc"] == pytest.approx(summary.score)
        artifacts = {a.path for a in client.list_artifacts(version.run_id)}
        # The plots of the version's first evaluation, on its holdout, and its data report.
        assert {
            "feature_importance.png",
            "evaluation.png",
            "holdout_history.png",
            "data_report.json",
        } <= artifacts
        # The exact data version in MLflow's own terms: the DVC md5 as the digest, the DVC object as source.
        assert run.inputs is not None
        inputs = {
            {t.key: t.value for t in i.tags}["mlflow.data.context"]: i for i in run.inputs.dataset_inputs
        }
        assert sorted(inputs) == ["holdout", "training"]
        md5 = summary.dataset_md5
        for context, data in inputs.items():
            assert data.dataset.digest == md5
            assert f"/dvc/files/md5/{md5[:2]}/{md5[2:]}" in data.dataset.source
            assert {t.key: t.value for t in data.tags}["split"] == (
                "holdout" if context == "holdout" else "all"
            )
        assert {t.key: t.value for t in inputs["training"].tags}["rows"] == str(summary.rows)
        loaded = mlflow.pyfunc.load_model(f"models:/{platform.settings.model_name}/{summary.model_version}")
        assert loaded.metadata.get_input_schema().input_names() == loan().feature_columns
        assert loaded.metadata.load_input_example() is not None


def test_champion_follows_the_gate(three_batches: tuple[Platform, list[PipelineSummary]]) -> None:
    platform, summaries = three_batches
    client = MlflowClient(platform.tracking_uri, platform.tracking_uri)
    champion: str | None = None
    for summary in summaries:
        tags = client.get_model_version(platform.settings.model_name, summary.model_version).tags
        if tags["gate.decision"] == "promote":
            champion = summary.model_version
        assert summary.champion_version == champion
    assert summaries[0].is_champion  # the first model always becomes champion
    assert registry_state(platform)[1] == champion


def test_a_gate_decision_against_a_replaced_champion_moves_nothing(
    three_batches: tuple[Platform, list[PipelineSummary]],
) -> None:
    # What a pipeline evaluating at the same time as another would hand promote: a passed gate for a
    # version that is not champion, decided when there was no champion yet.
    platform, summaries = three_batches
    before = registry_state(platform)
    other = next(s.model_version for s in summaries if s.model_version != before[1])
    stale = EvaluationResult(
        model_name=platform.settings.model_name,
        model_version=other,
        metrics={"roc_auc": 1.0},
        champion_version=None,
        champion_metrics=None,
        promote=True,
        reason="no champion yet",
    )
    result = promote(stale)
    assert result.stale and not result.promoted
    assert result.champion_version == before[1] != other
    assert registry_state(platform) == before


def test_evaluation_is_a_prefect_artifact(three_batches: tuple[Platform, list[PipelineSummary]]) -> None:
    platform, summaries = three_batches
    key = artifact_key(platform.settings.model_name, 3)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert len(artifacts) == 1
    assert f"# Evaluation of version {summaries[2].model_version} (batch 3)" in str(artifacts[0].data)
    assert "| roc_auc |" in str(artifacts[0].data)


def runs_by_kind(platform: Platform) -> tuple[set[str], set[str]]:
    """The experiment's training runs and evaluation runs (re-evaluations, each a record of its own)."""
    client = MlflowClient(platform.tracking_uri)
    experiment = client.get_experiment_by_name(platform.settings.experiment_name)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    evaluations = {r.info.run_id for r in runs if EVALUATION_OF_TAG in r.data.tags}
    return {r.info.run_id for r in runs} - evaluations, evaluations


def test_rerun_with_unchanged_inputs_recomputes_nothing(
    three_batches: tuple[Platform, list[PipelineSummary]],
) -> None:
    platform, summaries = three_batches
    objects_before, registry_before = remote_objects(platform), registry_state(platform)
    trainings_before, evaluations_before = runs_by_kind(platform)
    again = training_pipeline(3)
    assert again.reused
    assert (again.dataset_md5, again.model_version) == (summaries[2].dataset_md5, summaries[2].model_version)
    assert remote_objects(platform) == objects_before
    assert registry_state(platform) == registry_before
    trainings, evaluations = runs_by_kind(platform)
    assert trainings == trainings_before, "a re-run trained again"
    [added] = evaluations - evaluations_before  # the repeated evaluation is a record of its own
    tags = MlflowClient(platform.tracking_uri).get_run(added).data.tags
    assert tags[EVALUATION_OF_TAG] == f"{platform.settings.model_name}/{again.model_version}"
