"""Issue 7, item 6: batches 2 and 3 submitted at the same moment to the deployed pipeline.

Order is enforced (batch 3 is never ingested before batch 2), the DVC writers (ingest, prepare) never
run two at once (their deployments' concurrency limit), and nothing is lost.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.client.schemas.objects import FlowRun
from prefect.settings import temporary_settings

from devenv.services import LocalServices
from flows.settings import Settings
from tests.faults.conftest import assert_nothing_lost, deployed_topology, fresh_catalog, land
from tests.faults.test_orchestrator_faults import submit, wait_final

if TYPE_CHECKING:
    from prefect.settings import Setting

ROWS = 2000


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServices, Settings]]:
    with deployed_topology(tmp_path_factory.mktemp("concurrency")) as services:
        land(services, [1, 2, 3], ROWS)
        yield services, Settings()


def submit_together(batches: list[int], prefect_settings: dict[Setting, str]) -> dict[int, FlowRun]:
    """One thread per batch, released by one barrier: the flow runs are created at the same moment."""
    barrier = threading.Barrier(len(batches))
    runs: dict[int, FlowRun] = {}

    def go(batch: int) -> None:
        with temporary_settings(updates=prefect_settings):  # settings do not cross threads
            barrier.wait()
            runs[batch] = submit(batch)

    threads = [threading.Thread(target=go, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return runs


def stage_runs(stage: str) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[stage])))
    return [r for r in runs if r.start_time is not None]


def assert_one_at_a_time(runs: list[FlowRun]) -> None:
    spans = sorted((r.start_time, r.end_time) for r in runs)
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        assert end is not None and next_start is not None and end <= next_start, spans


def test_batches_submitted_together_keep_their_order_with_one_dvc_writer(
    topology: tuple[LocalServices, Settings],
) -> None:
    services, settings = topology
    first = wait_final(submit(1).id)
    assert first.state is not None and first.state.is_completed(), first.state

    started = time.monotonic()
    runs = submit_together([2, 3], services.prefect_settings())
    finished = {batch: wait_final(run.id) for batch, run in runs.items()}
    print(
        f"batches 2, 3 together: {time.monotonic() - started:.1f}s, "
        f"{ {b: r.state.type.value for b, r in finished.items() if r.state} }"
    )
    assert finished[2].state is not None and finished[2].state.is_completed(), finished[2].state
    third = finished[3]
    assert third.state is not None
    if not third.state.is_completed():  # its ingest ran first and refused: order is enforced, not lost
        assert "cannot be ingested before batch 2" in str(third.state.message), third.state.message
        third = wait_final(submit(3).id)
        assert third.state is not None and third.state.is_completed(), third.state

    raw = fresh_catalog(settings).raw_versions()
    assert sorted(raw) == [1, 2, 3]
    ingests = stage_runs("ingest")
    prepares = stage_runs("prepare")
    assert_one_at_a_time(ingests)
    assert_one_at_a_time(prepares)
    assert_nothing_lost(services, settings, model_versions=3)
