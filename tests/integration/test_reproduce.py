"""`mlops reproduce`: a version retrained from its lineage alone (data by md5, recorded parameters, the
definition by hash) gives the holdout metric its gate recorded, as a new run; nothing else changes."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from mlflow import MlflowClient

from flows.logic.demo import generate_batch
from flows.logic.tag_names import REPRODUCTION_OF_TAG
from flows.training_flow import training_pipeline
from tests.integration.conftest import Platform
from tests.integration.helpers import land_frame
from tests.integration.test_history import history


def mlops_reproduce(model: str) -> subprocess.CompletedProcess[str]:
    """`mlops reproduce MODEL` as a user runs it, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", "reproduce", model],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_version_reproduced_from_its_lineage_gives_its_recorded_metric(platform: Platform) -> None:
    for batch in (1, 2):
        land_frame(platform, batch, generate_batch(batch, 1500))
        training_pipeline(batch, candidates=2 if batch == 2 else 1)  # version 2: the better of two params
    model = platform.settings.model_name
    versions_before, runs_before = history(platform)

    done = mlops_reproduce(f"{model}/2")

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    versions_after, runs_after = history(platform)
    assert versions_after == versions_before, "a reproduction changed a version or an alias"
    assert {k: runs_after[k] for k in runs_before} == runs_before, "a reproduction changed a run"
    added = {k: v for k, v in runs_after.items() if k not in runs_before}
    assert len(added) == 1
    ((run_id, (tags, params, metrics, status)),) = added.items()
    assert tags[REPRODUCTION_OF_TAG] == f"{model}/2" and status == "FINISHED"
    client = MlflowClient(platform.tracking_uri, platform.tracking_uri)
    original = client.get_run(client.get_model_version(model, "2").run_id or "")
    assert params == original.data.params, "the reproduction trained with other parameters"
    assert tags["lineage.dataset_md5"] == original.data.tags["lineage.dataset_md5"]
    reproduced, recorded = metrics["holdout_roc_auc"][0][0], original.data.metrics["holdout_roc_auc"]
    assert abs(reproduced - recorded) <= 1e-6
    assert f"reproduced as MLflow run {run_id}" in done.stdout
    assert re.search(rf"holdout roc_auc: {reproduced:.6f} \(the original's: {recorded:.6f}\)", done.stdout)

    unknown = mlops_reproduce(f"{model}/9")
    assert unknown.returncode == 1 and f"no model version {model}/9" in unknown.stderr
