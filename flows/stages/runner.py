"""How the pipeline launches a stage: in its own process (embedded) or as its own flow run on the pool.

As a deployment, a stage runs wherever the work pool puts it (a process, a Kubernetes Job), so its
result travels through the object store: the stage writes it under its flow run id, the pipeline reads it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from prefect import Flow
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.runtime import deployment, flow_run

from flows.adapters.objectstore import open_fs, read_json, write_json
from flows.contracts import StageResult
from flows.settings import Settings

ResultT = TypeVar("ResultT", bound=StageResult)


class StageFailed(RuntimeError):
    """A stage's flow run did not complete; carries the stage's own error message."""


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


def run_stage(
    stage: Flow[..., Any], result_type: type[ResultT], settings: Settings, **parameters: Any
) -> ResultT:
    """Run one stage and return its result; a failed stage raises with the stage's message."""
    if not use_deployments(settings):
        return result_type.model_validate(stage(**parameters))
    jsonable = {
        k: v.model_dump(mode="json") if hasattr(v, "model_dump") else v for k, v in parameters.items()
    }
    run: FlowRun = run_deployment(  # type: ignore[assignment]  # sync call of a sync/async API
        f"{stage.name}/{stage.name}", parameters=jsonable, timeout=None, poll_interval=1, as_subflow=True
    )
    state = run.state
    if state is None or not state.is_completed():
        message = state.message if state else "no state"
        raise StageFailed(f"stage '{stage.name}' (flow run {run.name}) failed: {message}")
    fs, root = open_fs(settings.stage_results_url, settings)
    return result_type.model_validate(read_json(fs, f"{root}/{run.id}.json"))
