"""History is append-only: running batches 1 -> 3 again changes no tag, metric, param or alias of any run or
version that exists; the repeated evaluations are runs of their own."""

from __future__ import annotations

from typing import Any

from mlflow import MlflowClient

from flows.logic.demo import generate_batch
from flows.logic.tag_names import EVALUATION_OF_TAG
from flows.training_flow import training_pipeline
from tests.integration.conftest import Platform
from tests.integration.helpers import land_frame


def history(platform: Platform) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every version (tags, aliases, run) and every run (tags, params, each metric's whole history)."""
    client = MlflowClient(platform.tracking_uri, platform.tracking_uri)
    name = platform.settings.model_name
    versions: dict[str, Any] = {
        str(v.version): (dict(v.tags), sorted(v.aliases), v.run_id, v.source)
        for v in client.search_model_versions(f"name = '{name}'")
    }
    versions["aliases"] = dict(client.get_registered_model(name).aliases)
    experiment = client.get_experiment_by_name(platform.settings.experiment_name)
    assert experiment is not None
    runs = {}
    for run in client.search_runs([experiment.experiment_id]):
        metrics = {
            key: [(m.value, m.step, m.timestamp) for m in client.get_metric_history(run.info.run_id, key)]
            for key in run.data.metrics
        }
        runs[run.info.run_id] = (dict(run.data.tags), dict(run.data.params), metrics, run.info.status)
    return versions, runs


def test_a_rerun_of_every_batch_rewrites_no_history(platform: Platform) -> None:
    # A small batch 1, a better batch 2 (promoted), a noisy batch 3 (kept): the gate went both ways.
    land_frame(platform, 1, generate_batch(1, 400))
    land_frame(platform, 2, generate_batch(2, 6000))
    land_frame(platform, 3, generate_batch(3, 6000, label_noise=1.0))
    first = [training_pipeline(batch) for batch in (1, 2, 3)]
    assert [s.champion_version for s in first] == ["1", "2", "2"]
    versions_before, runs_before = history(platform)

    again = [training_pipeline(batch) for batch in (1, 2, 3)]

    versions_after, runs_after = history(platform)
    assert versions_after == versions_before, "a re-run changed a version's tags or an alias"
    assert {k: runs_after[k] for k in runs_before} == runs_before, "a re-run changed an existing run"
    added = {k: v for k, v in runs_after.items() if k not in runs_before}
    assert sorted(tags[EVALUATION_OF_TAG] for tags, *_ in added.values()) == [
        f"{platform.settings.model_name}/{n}" for n in ("1", "2", "3")
    ], "each repeated evaluation is one new evaluation run"
    assert all(s.reused and s.champion_version == "2" for s in again)
    for tags, _, metrics, _ in added.values():
        assert (
            tags["gate.decision"] == "keep" and "re-run of a version evaluated before" in tags["gate.reason"]
        )
        assert "holdout_roc_auc" in metrics
