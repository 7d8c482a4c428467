"""The champion alias moves only when the gate passes, driven both ways with controlled data."""

from __future__ import annotations

from mlflow import MlflowClient

from flows.logic.demo import generate_batch
from flows.training_flow import training_pipeline
from tests.integration.conftest import Platform
from tests.integration.helpers import land_frame, registry_state


def test_better_data_promotes_and_noise_does_not(platform: Platform) -> None:
    # Batch 1 is tiny (a weak model); batch 2 adds plenty of clean rows (a clearly better one);
    # batch 3 adds twice as many rows whose labels are coin flips (a worse one).
    land_frame(platform, 1, generate_batch(1, 400))
    land_frame(platform, 2, generate_batch(2, 6000))
    land_frame(platform, 3, generate_batch(3, 12000, label_noise=1.0))
    client = MlflowClient(platform.tracking_uri, platform.tracking_uri)

    first = training_pipeline(1)
    assert first.is_champion and registry_state(platform) == (["1"], "1")

    second = training_pipeline(2)
    tags = client.get_model_version(platform.settings.model_name, second.model_version).tags
    assert tags["gate.decision"] == "promote", tags["gate.reason"]
    assert registry_state(platform) == (["1", "2"], "2")

    third = training_pipeline(3)
    tags = client.get_model_version(platform.settings.model_name, third.model_version).tags
    assert tags["gate.decision"] == "keep", tags["gate.reason"]
    assert "below margin" in tags["gate.reason"]
    assert registry_state(platform) == (["1", "2", "3"], "2")
    run = client.get_run(str(client.get_model_version(platform.settings.model_name, "3").run_id))
    # Both were scored on the same holdout, and the recorded numbers justify the decision.
    assert run.data.metrics["holdout_roc_auc"] < run.data.metrics["champion_holdout_roc_auc"] + 0.002
    assert not third.is_champion and third.champion_version == "2"
