"""Recovering from a batch that should not have been accepted: `mlops batch retract` records it, its data
stays for audit, lineage says so, and later pipelines leave it out."""

from __future__ import annotations

import os
import subprocess
import sys

from mlflow import MlflowClient

from flows.adapters.catalog import Catalog
from flows.contracts import Retraction
from flows.logic.demo import generate_batch
from flows.training_flow import training_pipeline
from tests.integration.conftest import Platform
from tests.integration.helpers import land_frame, remote_objects


def retractions(platform: Platform) -> dict[int, Retraction]:
    """As the store holds them now (s3fs caches listings per process; the CLI wrote from another)."""
    catalog = Catalog(platform.settings)
    catalog.fs.invalidate_cache()
    return catalog.retractions()


def mlops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], env=dict(os.environ), capture_output=True, text=True
    )


def test_a_retracted_batch_is_left_out_of_later_pipelines_and_shown_in_lineage(platform: Platform) -> None:
    land_frame(platform, 1, generate_batch(1, 1500))
    land_frame(platform, 2, generate_batch(2, 1500, label_noise=1.0))  # valid rows, worthless labels
    training_pipeline(1)
    second = training_pipeline(2)
    model = platform.settings.model_name

    refused = mlops("batch", "retract", "2", "--reason", "labels were coin flips")
    assert refused.returncode == 1
    assert f"{model} version(s) {second.model_version} were trained on batch 2" in refused.stderr
    assert retractions(platform) == {}
    before = remote_objects(platform)

    done = mlops("batch", "retract", "2", "--reason", "labels were coin flips", "--force")
    assert done.returncode == 0, done.stderr
    retraction = retractions(platform)[2]
    assert (retraction.reason, retraction.model_versions) == (
        "labels were coin flips",
        [second.model_version],
    )
    after = remote_objects(platform)
    assert all(after[key] == etag for key, etag in before.items()), "retracting changed or removed data"

    lineage = mlops("lineage", f"{model}/{second.model_version}")
    assert "retracted batch" in lineage.stdout and "2: labels were coin flips" in lineage.stdout

    again = mlops("run", "--batches", "2", "--no-demo")
    assert again.returncode == 1 and "batch 2 was retracted at" in again.stderr

    land_frame(platform, 3, generate_batch(3, 1500))
    third = training_pipeline(3)
    tags = MlflowClient(platform.tracking_uri).get_model_version(model, third.model_version).tags
    assert tags["lineage.batches"] == "1,3"
    assert third.rows == 3000
