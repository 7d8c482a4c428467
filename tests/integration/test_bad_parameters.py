"""Bad batch numbers through the CLI and through the ml-pipeline deployment: refused before anything runs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectAlreadyExists

from devenv.services import WORK_POOL, LocalServices
from flows.adapters.catalog import Catalog
from flows.contracts import MAX_BATCH_NUMBER
from flows.logic.demo import generate_batch
from tests.integration.conftest import LANDING_BUCKET, Platform, deploy_flows
from tests.integration.helpers import land_frame, registry_state, remote_objects

PIPELINE = "ML Training Pipeline/ml-pipeline"
HUGE = "9" * 30


def landing_keys(platform: Platform) -> list[str]:
    listing = platform.s3().list_objects_v2(Bucket=LANDING_BUCKET, Prefix=f"{platform.landing_prefix}/")
    return sorted(item["Key"] for item in listing.get("Contents", []))


def state(platform: Platform) -> tuple[object, ...]:
    """Everything a run could write: landing, DVC remote and catalog, registry."""
    return (
        landing_keys(platform),
        remote_objects(platform),
        registry_state(platform),
        Catalog(platform.settings).raw_versions(),
    )


@pytest.fixture
def landed(platform: Platform) -> Platform:
    """A tenant with batch 1 landed and nothing else."""
    land_frame(platform, 1, generate_batch(1, 300))
    return platform


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("x", "must be a positive integer, got 'x'"),
        ("1.5", "must be a positive integer, got '1.5'"),
        ("0", "must be a positive integer, got 0"),
        ("-1", "must be a positive integer, got -1"),
        (HUGE, f"must be at most {MAX_BATCH_NUMBER}, got {HUGE}"),
    ],
)
def test_mlops_run_refuses_a_bad_batch_number_before_landing_or_running_anything(
    landed: Platform, argument: str, message: str
) -> None:
    before = state(landed)
    # No --no-demo: a batch number that got through would have demo data landed for it.
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--batches", "1", argument],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"argument --batches: {message}" in result.stderr
    assert state(landed) == before


@pytest.fixture(scope="module")
def pipeline_deployment(services: LocalServices) -> Iterator[UUID]:
    """prefect.yaml's ml-pipeline deployment, registered as `make deploy-flows` does; no worker needed."""
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=WORK_POOL, type="process"))
    deploy_flows(services, "ml-pipeline")
    with get_client(sync_client=True) as client:
        yield client.read_deployment_by_name(PIPELINE).id


def flow_run_count(deployment_id: UUID) -> int:
    with get_client(sync_client=True) as client:
        deployments = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        return len(client.read_flow_runs(deployment_filter=deployments))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("two", "'two' is not of type 'integer'"),
        (1.5, "1.5 is not of type 'integer'"),
        (0, "0 is less than the minimum of 1"),
        (-1, "-1 is less than the minimum of 1"),
        (10**30, f"{10**30} is greater than the maximum of {MAX_BATCH_NUMBER}"),
    ],
)
def test_the_deployment_refuses_a_bad_batch_number_without_creating_a_flow_run(
    landed: Platform, pipeline_deployment: UUID, value: object, reason: str
) -> None:
    before, runs = state(landed), flow_run_count(pipeline_deployment)
    with pytest.raises(Exception, match="batch_number") as refused:
        run_deployment(PIPELINE, parameters={"batch_number": value}, timeout=0)
    assert reason in str(refused.value)
    assert flow_run_count(pipeline_deployment) == runs
    assert state(landed) == before
