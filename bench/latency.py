"""Section 3: how long a stage flow run waits between its creation and its code starting (process worker)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment

REPO = Path(__file__).resolve().parent.parent
STAGE = "ingest/ingest"  # a re-run of an ingested batch: the stage starts, finds it unchanged, returns


@dataclass
class Latencies:
    stage_start: list[float] = field(default_factory=list)
    bare_import: list[float] = field(default_factory=list)


async def _running_after(flow_run_id: object) -> float:
    """Seconds from the flow run's creation to its Running state (set when its code is about to run)."""
    async with get_client() as client:
        run = await client.read_flow_run(flow_run_id)  # type: ignore[arg-type]
        states = await client.read_flow_run_states(flow_run_id)  # type: ignore[arg-type]
    running = [s.timestamp for s in states if s.type == StateType.RUNNING]
    if not running or run.created is None:
        raise RuntimeError(f"flow run {flow_run_id} never ran: {[s.type for s in states]}")
    return (min(running) - run.created).total_seconds()


def deploy_stage(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--name", STAGE.split("/")[1]],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )


def measure(runs: int, batch_number: int) -> Latencies:
    """`runs` stage runs one after another (plus one warm-up that does the real ingest)."""
    import asyncio

    result = Latencies()
    for i in range(runs + 1):
        flow_run: FlowRun = run_deployment(  # type: ignore[assignment]  # sync call of a sync/async API
            STAGE, parameters={"batch_number": batch_number}, timeout=None
        )
        if flow_run.state is None or not flow_run.state.is_completed():
            raise RuntimeError(f"stage run {flow_run.id} ended {flow_run.state}")
        if i > 0:
            result.stage_start.append(asyncio.run(_running_after(flow_run.id)))
            print(f"  stage run #{i}: started {result.stage_start[-1]:.2f} s after creation", flush=True)
    for _ in range(5):
        result.bare_import.append(bare_import_seconds())
    return result


def bare_import_seconds() -> float:
    """The floor for any process-per-stage design: a fresh interpreter importing the stage's module."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import flows.stages.ingest"], cwd=REPO, env=dict(os.environ), check=True
    )
    return time.perf_counter() - started
