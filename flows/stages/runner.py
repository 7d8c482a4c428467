"""How the pipeline launches a stage: in its own process (embedded) or as its own flow run on the pool.

As a deployment, a stage runs wherever the work pool puts it (a process, a Kubernetes Job), so its
result travels through the object store: the stage writes it under its flow run id, the pipeline reads it.
"""

from __future__ import annotations

import time
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.runtime import deployment, flow_run
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from flows.adapters.datasets import resolve_definition
from flows.adapters.objectstore import open_fs, read_json, write_json
from flows.contracts import DefinitionRef
from flows.progress import report_stage
from flows.settings import Settings, get_settings
from flows.stages.registry import TRAIN, ResultT, Stage


class StageFailed(RuntimeError):
    """A stage's flow run did not complete; carries the stage's own error message."""


def stage_settings(definition: DefinitionRef | None) -> tuple[Settings, DefinitionRef]:
    """A stage's settings for the dataset it was handed; a stage run on its own (no definition) resolves
    MLOPS_DATASET's as a pipeline would."""
    settings = get_settings()
    ref = definition or resolve_definition(settings.dataset, settings)[0]
    return settings.for_dataset(ref.name), ref


def use_deployments(settings: Settings) -> bool:
    if settings.stage_runner == "auto":
        return deployment.id is not None
    return settings.stage_runner == "deployments"


def publish(result: ResultT, settings: Settings) -> ResultT:
    """A stage's last step: when it runs from a deployment, leave its result for the pipeline."""
    if deployment.id is not None:
        fs, root = open_fs(settings.stage_results_url, settings)
        write_json(fs, f"{root}/{flow_run.id}.json", result.model_dump(mode="json"))
    return result


def run_stage(stage: Stage[ResultT], settings: Settings, **parameters: Any) -> ResultT:
    """Run one stage and return its result; a failed stage raises with the stage's message."""
    return run_stages(stage, settings, [parameters])[0]


def run_stages(
    stage: Stage[ResultT], settings: Settings, parameter_sets: list[dict[str, Any]]
) -> list[ResultT]:
    """Run a stage once per parameter set: as parallel flow runs on the pool, or one after another inline."""
    started = time.perf_counter()
    if use_deployments(settings):
        results = _deployed(stage, settings, parameter_sets)
    else:
        stage_flow = stage.flow()
        # Inline stages share the pipeline's process, whose flow run already heartbeats. Their own
        # heartbeat threads would add nothing but a join of up to 1 s when each stage ends.
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            results = [stage.result.model_validate(stage_flow(**parameters)) for parameters in parameter_sets]
    for result in results:
        report_stage(stage.name, result, time.perf_counter() - started)
    return results


def _deployed(stage: Stage[ResultT], settings: Settings, sets: list[dict[str, Any]]) -> list[ResultT]:
    """Each parameter set as a flow run of the stage's deployment, in parallel; their published results."""
    runs: list[FlowRun] = [
        run_deployment(  # type: ignore[misc]  # sync call of a sync/async API
            deployment_name(stage, settings), parameters=_jsonable(parameters), timeout=0, as_subflow=True
        )
        for parameters in sets
    ]
    finished = _wait_for_all(runs)
    for run in finished:
        state = run.state
        if state is None or not state.is_completed():
            message = state.message if state else "no state"
            raise StageFailed(f"stage '{stage.name}' (flow run {run.name}) failed: {message}")
    fs, root = open_fs(settings.stage_results_url, settings)
    return [stage.result.model_validate(read_json(fs, f"{root}/{run.id}.json")) for run in finished]


def deployment_name(stage: Stage[Any], settings: Settings) -> str:
    """The deployment a stage runs as: `<name>/<name>`, but train's is the one the settings choose."""
    if stage.name == TRAIN.name:
        return f"{TRAIN.name}/{settings.train_deployment}"
    return stage.deployment


def _wait_for_all(runs: list[FlowRun], poll_seconds: float = 1.0) -> list[FlowRun]:
    """Poll until every flow run has reached a final state."""
    with get_client(sync_client=True) as client:
        while True:
            current = [client.read_flow_run(run.id) for run in runs]
            if all(run.state is not None and run.state.is_final() for run in current):
                return current
            time.sleep(poll_seconds)


def _jsonable(parameters: dict[str, Any]) -> dict[str, Any]:
    return {k: v.model_dump(mode="json") if hasattr(v, "model_dump") else v for k, v in parameters.items()}
