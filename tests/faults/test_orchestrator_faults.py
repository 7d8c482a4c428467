"""A stage process, the worker, the Prefect server and a whole node die mid-run (real processes).

The tests run in order on one topology: batch 1 loses its train process, batch 2 its worker, batch 3 the
Prefect server, batch 4 its worker with every flow-run process (the zombie reaper's case). After each, a
re-run completes and nothing is lost or duplicated.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psutil
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment

from devenv.services import LocalServices
from flows.adapters.objectstore import open_fs, read_json
from flows.contracts import PipelineSummary
from flows.settings import Settings
from flows.training_flow import training_pipeline
from flows.zombie_runs import HEARTBEAT_SECONDS, ZOMBIE_AFTER
from tests.faults.conftest import (
    LANDING_BUCKET,
    assert_nothing_lost,
    deployed_topology,
    fresh_catalog,
    land,
)
from tests.integration.conftest import new_platform

ROWS = 2000
PIPELINE = "ML Training Pipeline/ml-pipeline"


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServices, Settings]]:
    with deployed_topology(tmp_path_factory.mktemp("orchestrator")) as services:
        land(services, [1, 2, 3], ROWS)
        yield services, Settings()


def submit(batch: int) -> FlowRun:
    run: FlowRun = run_deployment(PIPELINE, parameters={"batch_number": batch}, timeout=0)  # type: ignore[assignment]
    return run


def read_run(run_id: UUID) -> FlowRun:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)


def wait_final(run_id: UUID, timeout: float = 600) -> FlowRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = read_run(run_id)
        if run.state is not None and run.state.is_final():
            return run
        time.sleep(0.5)
    raise TimeoutError(f"flow run {run_id} not final after {timeout}s: {read_run(run_id).state}")


def wait_stage_running(parent: FlowRun, stage: str, timeout: float = 300) -> FlowRun:
    """The pipeline's flow run of `stage`, once its code runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[stage])),
                flow_run_filter=FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id])
                ),
            )
        running = [r for r in runs if r.state_type == StateType.RUNNING]
        if running:
            return running[0]
        time.sleep(0.2)
    raise TimeoutError(f"stage {stage} of {parent.name} never ran")


def process_of(flow_run: FlowRun) -> psutil.Process:
    """The real process the worker started for a flow run (its env names the run)."""
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("PREFECT__FLOW_RUN_ID") == str(flow_run.id):
                return proc
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    raise LookupError(f"no process runs flow run {flow_run.id}")


def summary_of(settings: Settings, run: FlowRun) -> PipelineSummary:
    fs, root = open_fs(settings.stage_results_url, settings)
    payload: dict[str, Any] = read_json(fs, f"{root}/{run.id}.json")
    return PipelineSummary.model_validate(payload)


def rerun_until_completed(batch: int, attempts: int = 2) -> tuple[FlowRun, int]:
    """Run the batch again (as an operator would) until it completes; returns the run and re-runs used."""
    for attempt in range(1, attempts + 1):
        run = wait_final(submit(batch).id)
        if run.state is not None and run.state.is_completed():
            return run, attempt
    raise AssertionError(f"batch {batch} did not complete in {attempts} re-runs: {run.state}")


def test_a_killed_stage_process_is_marked_crashed_and_a_rerun_matches_an_undisturbed_run(
    topology: tuple[LocalServices, Settings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services, settings = topology
    pipeline = submit(1)
    # RUNNING is set by the stage's own process as its code starts; the pull, the fit and the logging that
    # follow take seconds, so the kill lands inside the stage.
    stage = wait_stage_running(pipeline, "train")
    victim = process_of(stage)
    killed_at = time.monotonic()
    os.kill(victim.pid, signal.SIGKILL)
    crashed = wait_final(stage.id, timeout=120)
    marked_after = time.monotonic() - killed_at
    assert crashed.state is not None and crashed.state.type == StateType.CRASHED, crashed.state
    failed = wait_final(pipeline.id)
    assert failed.state is not None and failed.state.is_failed(), failed.state
    assert "stage 'train'" in str(failed.state.message)
    print(
        f"stage killed: marked {crashed.state.type.value} after {marked_after:.1f}s: {crashed.state.message}"
    )

    rerun, used = rerun_until_completed(1)
    disturbed = summary_of(settings, rerun)
    assert used == 1
    assert_nothing_lost(services, settings, model_versions=1)

    platform = new_platform(tmp_path, services, monkeypatch)  # an undisturbed run on the same data
    monkeypatch.setenv("MLOPS_STAGE_RUNNER", "inline")
    land_for(platform.s3(), platform.landing_prefix, 1)
    undisturbed = training_pipeline(1)
    assert (disturbed.raw_md5, disturbed.dataset_md5, disturbed.rows, disturbed.score) == (
        undisturbed.raw_md5,
        undisturbed.dataset_md5,
        undisturbed.rows,
        undisturbed.score,
    )


def land_for(s3: Any, prefix: str, batch: int) -> None:
    from flows.logic.demo import generate_batch

    body = generate_batch(batch, ROWS).to_csv(index=False).encode()
    s3.put_object(Bucket=LANDING_BUCKET, Key=f"{prefix}/batch_{batch}.csv", Body=body)


def test_a_killed_worker_costs_a_rerun(topology: tuple[LocalServices, Settings]) -> None:
    services, settings = topology
    pipeline = submit(2)
    stage = wait_stage_running(pipeline, "prepare")
    worker = services.pid("worker")
    assert worker is not None
    killed_at = time.monotonic()
    os.kill(worker, signal.SIGKILL)  # the worker process alone, as an OOM kill would
    os.waitpid(worker, 0)
    services.start_worker()  # a new worker, as Kubernetes would restart its pod
    ended = wait_final(stage.id, timeout=120)
    stage_after = time.monotonic() - killed_at
    finished = wait_final(pipeline.id)
    pipeline_after = time.monotonic() - killed_at
    assert ended.state is not None and finished.state is not None
    print(
        f"worker killed: stage {ended.state.type.value} after {stage_after:.1f}s ({ended.state.message}), "
        f"pipeline {finished.state.type.value} after {pipeline_after:.1f}s"
    )
    used = 0 if finished.state.is_completed() else rerun_until_completed(2)[1]
    print(f"worker killed: re-runs used {used}")
    assert used <= 1
    assert_nothing_lost(services, settings, model_versions=2)
    assert sorted(fresh_catalog(settings).raw_versions()) == [1, 2]


def test_a_restarted_prefect_server_costs_at_most_a_rerun_without_duplicates(
    topology: tuple[LocalServices, Settings],
) -> None:
    services, settings = topology
    pipeline = submit(3)
    wait_stage_running(pipeline, "train")
    stopped_at = time.monotonic()
    services.stop("prefect")
    services.start_prefect()  # same port, same database
    downtime = time.monotonic() - stopped_at
    finished = wait_final(pipeline.id)
    recovered_after = time.monotonic() - stopped_at
    state = finished.state.type.value if finished.state else None
    print(f"server restarted ({downtime:.1f}s down): pipeline {state} {recovered_after:.1f}s after the stop")
    if finished.state is not None and finished.state.is_completed():
        used = 0
    else:
        _, used = rerun_until_completed(3)
    print(f"server restarted: re-runs used {used}")
    assert_nothing_lost(services, settings, model_versions=3)
    catalog = fresh_catalog(settings)
    assert sorted(catalog.raw_versions()) == [1, 2, 3]
    assert len(catalog.datasets()) == 3


def test_runs_lost_with_their_worker_are_crashed_by_the_reaper_and_free_the_next_pipeline(
    topology: tuple[LocalServices, Settings],
) -> None:
    """The worker killed with every process it started, mid-stage (a lost node): nothing is left to report
    the pipeline and its prepare run, which would stay Running and hold prepare's concurrency slot for ever.
    The zombie reaper (flows.zombie_runs, installed by `make up` as by the chart) crashes both within its
    bound, and the next pipeline on the batch gets the slot and completes."""
    services, settings = topology
    land(services, [4], ROWS)
    pipeline = submit(4)
    stage = wait_stage_running(pipeline, "prepare")
    worker = services.pid("worker")
    assert worker is not None
    # The worker and every flow-run process it started (Prefect starts each in a process group of its own,
    # so the worker's group alone would leave them running): the whole tree, as a lost node takes it.
    tree = [psutil.Process(worker), *psutil.Process(worker).children(recursive=True)]
    assert process_of(stage) in tree and process_of(pipeline) in tree
    killed_at = time.monotonic()
    for proc in tree:
        proc.kill()
    psutil.wait_procs(tree, timeout=30)
    (services.root / "worker.pid").unlink()
    with pytest.raises(LookupError):
        process_of(stage)
    assert read_run(stage.id).state_type == StateType.RUNNING  # nobody left to say otherwise
    bound = ZOMBIE_AFTER.total_seconds() + HEARTBEAT_SECONDS
    ended = wait_final(stage.id, timeout=bound + 60)
    crashed_after = time.monotonic() - killed_at
    pipeline_ended = wait_final(pipeline.id, timeout=60)
    print(f"zombie runs crashed {crashed_after:.1f}s after their worker was lost (bound {bound:.0f}s)")
    for run in (ended, pipeline_ended):
        assert run.state is not None and run.state.is_crashed(), run.state
        assert "no heartbeat" in (run.state.message or "")
    assert crashed_after <= bound
    services.start_worker()  # the pod rescheduled
    rerun = wait_final(submit(4).id)
    assert rerun.state is not None and rerun.state.is_completed(), rerun.state
    assert_nothing_lost(services, settings, model_versions=4)
    assert sorted(fresh_catalog(settings).raw_versions()) == [1, 2, 3, 4]
