"""The pipeline's stages by name: where each flow lives and what it returns.

A stage is launched by name (its deployment is `<name>/<name>`), so the pipeline's own process imports a
stage's code only when it runs the stage inline: as a deployment, the pipeline starts in the time Prefect
takes to import, not the time of MLflow, XGBoost and DVC together. tests/unit/test_stage_registry.py
checks this table against prefect.yaml and against the flows themselves.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from prefect import Flow

from flows.contracts import (
    EvaluationResult,
    IngestResult,
    PrepareResult,
    PromotionResult,
    StageResult,
    TrainResult,
)

ResultT = TypeVar("ResultT", bound=StageResult)


@dataclass(frozen=True)
class Stage(Generic[ResultT]):
    name: str  # the flow's name and its deployment's
    module: str  # the module that defines the flow, `flows.stages.<name>`
    result: type[ResultT]

    @property
    def entrypoint(self) -> str:
        """The deployment's entrypoint in prefect.yaml (`path/to/module.py:function`)."""
        return f"{self.module.replace('.', '/')}.py:{self.name}"

    @property
    def deployment(self) -> str:
        return f"{self.name}/{self.name}"

    def flow(self) -> Flow[..., Any]:
        """The stage's flow, imported now."""
        found: Flow[..., Any] = getattr(importlib.import_module(self.module), self.name)
        return found


INGEST = Stage("ingest", "flows.stages.ingest", IngestResult)
PREPARE = Stage("prepare", "flows.stages.prepare", PrepareResult)
TRAIN = Stage("train", "flows.stages.train", TrainResult)
EVALUATE = Stage("evaluate", "flows.stages.evaluate", EvaluationResult)
PROMOTE = Stage("promote", "flows.stages.promote", PromotionResult)
STAGES: tuple[Stage[Any], ...] = (INGEST, PREPARE, TRAIN, EVALUATE, PROMOTE)
