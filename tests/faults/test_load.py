"""Issue 7, item 9: pipeline runs queued at once on the local services (re-runs of a tiny batch).

The `make up` topology with MLOPS_PREFECT_DATABASE=postgres; the ml-pipeline deployment's concurrency
limit (4) keeps the rest queued on the server. 8 runs, twice the limit: 4 wait at the start and the queue
drains in two waves. (Each run is 6 processes on this machine's 2 cores, so the time grows with the count:
20 runs took 14 minutes, 12 took 11 to 17 beside another test process, for no path that 8 do not take: a
run waiting for a slot, slots freed and taken again, the queue drained.)

All complete, the queue drains, the services log no server error; prints p50/p95 of stage latency
(a stage flow run's creation to its Running state) and the total time.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterator
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType

from devenv.services import LocalServices
from flows.settings import Settings
from tests.faults.conftest import assert_nothing_lost, deployed_topology, fresh_catalog, land
from tests.faults.test_orchestrator_faults import submit, summary_of, wait_final

ROWS = 2000
RUNS = 8
SERVER_ERRORS = re.compile(r"Traceback|Internal Server Error|\" 5\d\d |database is locked")


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServices, Settings]]:
    # Prefect on PostgreSQL, as in the chart: on SQLite this load gets 503 "database is locked".
    with deployed_topology(tmp_path_factory.mktemp("load"), prefect_database="postgres") as services:
        land(services, [1], ROWS)
        yield services, Settings()


def running_after_creation(parent_ids: list[UUID]) -> list[float]:
    """Seconds from each stage flow run's creation to its first Running state."""
    latencies = []
    with get_client(sync_client=True) as client:
        stages = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=parent_ids))
        )
        for stage in stages:
            states = client.read_flow_run_states(stage.id)
            running = [s.timestamp for s in states if s.type == StateType.RUNNING]
            assert running and stage.created is not None, (stage.name, [s.type for s in states])
            latencies.append((min(running) - stage.created).total_seconds())
    return latencies


def unfinished_runs() -> int:
    busy = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]
    with get_client(sync_client=True) as client:
        return len(
            client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=busy))
                )
            )
        )


@pytest.mark.timeout(1800)
def test_a_queue_of_pipeline_runs_all_complete_without_server_errors(
    topology: tuple[LocalServices, Settings],
) -> None:
    services, settings = topology
    first = wait_final(submit(1).id)
    assert first.state is not None and first.state.is_completed(), first.state
    version = summary_of(settings, first).model_version

    started = time.monotonic()
    runs = [submit(1) for _ in range(RUNS)]
    finished = [wait_final(run.id, timeout=1200) for run in runs]
    total = time.monotonic() - started
    assert all(r.state is not None and r.state.is_completed() for r in finished), [
        r.state for r in finished if r.state is not None and not r.state.is_completed()
    ]
    assert {summary_of(settings, r).model_version for r in finished} == {version}
    assert unfinished_runs() == 0

    latencies = running_after_creation([r.id for r in finished])
    assert len(latencies) == RUNS * 5
    p50 = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(f"{RUNS} pipelines at once: {total:.0f}s in all; stage latency p50 {p50:.1f}s, p95 {p95:.1f}s")

    for name in ("prefect", "mlflow", "minio", "worker"):
        log = (services.root / f"{name}.log").read_text(errors="replace")
        errors = [line for line in log.splitlines() if SERVER_ERRORS.search(line)]
        assert not errors, f"{name}.log: {errors[:5]}"
    assert sorted(fresh_catalog(settings).raw_versions()) == [1]
    assert_nothing_lost(services, settings, model_versions=1)
