"""The stage registry against prefect.yaml and the flows it names: a renamed flow, module or deployment, or
a stage returning another result type, fails here rather than in a pipeline run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, get_type_hints

import pytest
import yaml
from prefect import Flow

from flows.settings import Settings
from flows.stages.registry import STAGES, TRAIN, Stage
from flows.stages.runner import deployment_name

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = {d["name"]: d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}
# The deployments that are not stages of the training pipeline.
NOT_STAGES = {"ml-pipeline", "score"}
# Other deployments of a stage's flow, that the pipeline runs instead when the settings say so.
VARIANTS = {"train-gpu": TRAIN}


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_each_stage_is_the_deployment_of_its_name_with_its_entrypoint(stage: Stage[Any]) -> None:
    assert stage.name in DEPLOYMENTS, f"prefect.yaml has no deployment '{stage.name}'"
    assert DEPLOYMENTS[stage.name]["entrypoint"] == stage.entrypoint
    assert (ROOT / stage.entrypoint.split(":")[0]).is_file()


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_each_stage_flow_has_its_name_and_returns_its_result_type(stage: Stage[Any]) -> None:
    flow = stage.flow()
    assert isinstance(flow, Flow)
    assert flow.name == stage.name  # the deployment `<name>/<name>` that the pipeline runs
    assert get_type_hints(flow.fn)["return"] is stage.result


def test_every_stage_deployment_is_in_the_registry() -> None:
    assert set(DEPLOYMENTS) - NOT_STAGES - set(VARIANTS) == {s.name for s in STAGES}


@pytest.mark.parametrize(("variant", "stage"), VARIANTS.items())
def test_a_variant_deployment_runs_its_stages_flow_and_the_pipeline_runs_it_when_chosen(
    variant: str, stage: Stage[Any]
) -> None:
    assert DEPLOYMENTS[variant]["entrypoint"] == stage.entrypoint
    chosen = Settings(train_deployment=variant)
    assert deployment_name(stage, chosen) == f"{stage.name}/{variant}"
    assert deployment_name(stage, Settings()) == stage.deployment
    # Only the train stage has variants: the others run as `<name>/<name>` whatever the setting.
    assert {deployment_name(s, chosen) for s in STAGES if s is not stage} == {
        s.deployment for s in STAGES if s is not stage
    }


HEAVY = ("mlflow", "xgboost", "sklearn", "matplotlib", "dvc")


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("flows.training_flow", ()),  # as a deployment it launches stages by name
        ("flows.stages.ingest", ("dvc",)),
        ("flows.stages.prepare", ("dvc",)),
        ("flows.stages.promote", ("mlflow",)),  # the registry's client, no model code
    ],
)
def test_a_stage_process_imports_only_what_its_stage_uses(module: str, allowed: tuple[str, ...]) -> None:
    """Each stage is a process of its own (a Kubernetes Job): what its module imports is start-up time
    paid by every run (MLflow ~0.8 s, XGBoost with scikit-learn ~1 s, matplotlib ~0.3 s)."""
    probe = f"import sys, {module}; print(' '.join(m for m in {HEAVY} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert set(loaded) <= set(allowed), loaded
