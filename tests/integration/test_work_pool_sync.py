"""The worker's init container, as the chart renders it, run against a real Prefect server.

`prefect worker start --base-job-template` applies the template only when it creates the pool; the init
container makes an existing pool follow an upgrade (another namespace, a new flow-runner image).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolUpdate
from prefect.events.schemas.events import ResourceSpecification

from devenv.services import LocalServices
from flows.zombie_runs import ZOMBIE_AFTER, automation_name
from tests.charts.chart import RELEASE, Rendered, find_helm, pod_spec, render


@pytest.fixture(scope="module")
def helm() -> str:
    path = find_helm()
    if path is None:
        pytest.skip("helm not found ($HELM, PATH or bin/helm)")
    return path


AUTH_SECRET_REF = {"secretKeyRef": {"name": f"{RELEASE}-prefect-auth", "key": "auth-string"}}


def mounted_template(chart: Rendered) -> str:
    content: str = chart.get("ConfigMap", f"{RELEASE}-work-pool-template")["data"]["base-job-template.json"]
    return content


def run_init_container(
    chart: Rendered, services: LocalServices, pool: str, tmp_path: Path, auth_string: str | None
) -> subprocess.CompletedProcess[str]:
    """The sync-work-pool container's command, with its env, its template file and the services' API."""
    (init,) = pod_spec(chart.get("Deployment", f"{RELEASE}-prefect-worker"))["initContainers"]
    template = tmp_path / "base-job-template.json"
    template.write_text(mounted_template(chart))
    # The chart's literal values; the auth string reaches the container from the Secret only, and here from
    # the services' own credential (or not at all).
    env = {entry["name"]: entry["value"] for entry in init["env"] if "value" in entry}
    assert {"name": "PREFECT_API_AUTH_STRING", "valueFrom": AUTH_SECRET_REF} in init["env"]
    env |= {
        "PREFECT_API_URL": services.prefect_api_url,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "WORK_POOL": pool,
        "BASE_JOB_TEMPLATE": str(template),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    if auth_string is not None:
        env["PREFECT_API_AUTH_STRING"] = auth_string
    return subprocess.run(init["command"], env=env, capture_output=True, text=True, timeout=120)


def sync_work_pool(chart: Rendered, services: LocalServices, pool: str, tmp_path: Path) -> None:
    result = run_init_container(chart, services, pool, tmp_path, services.prefect_auth_string())
    assert result.returncode == 0, result.stdout + result.stderr


def pool_state(pool: str) -> tuple[dict[str, Any], bool]:
    with get_client(sync_client=True) as client:
        work_pool = client.read_work_pool(pool)
        return work_pool.base_job_template, bool(work_pool.is_paused)


def test_the_pool_follows_the_charts_template_and_stays_paused(
    services: LocalServices, helm: str, tmp_path: Path
) -> None:
    pool = f"pool-{uuid.uuid4().hex[:8]}"
    dev = render(helm, namespace="mlops-dev")
    sync_work_pool(dev, services, pool, tmp_path)  # creates it
    template, paused = pool_state(pool)
    assert template["variables"]["properties"]["namespace"]["default"] == "mlops-dev"
    assert not paused

    with get_client(sync_client=True) as client:
        client.update_work_pool(pool, WorkPoolUpdate(is_paused=True))
    upgraded = render(helm, set_values={"images.flowRunner.tag": "0.2.0"}, namespace="mlops-prod")
    sync_work_pool(upgraded, services, pool, tmp_path)  # updates it
    template, paused = pool_state(pool)
    assert template == json.loads(mounted_template(upgraded))
    assert template["variables"]["properties"]["image"]["default"] == "mlops-platform/flow-runner:0.2.0"
    assert paused  # only the template changed


@pytest.mark.parametrize("auth_string", [None, "admin:not-the-password"], ids=["none", "wrong"])
def test_the_pool_template_cannot_be_rewritten_without_the_auth_string(
    services: LocalServices, helm: str, tmp_path: Path, auth_string: str | None
) -> None:
    pool = f"pool-{uuid.uuid4().hex[:8]}"
    sync_work_pool(render(helm, namespace="mlops-dev"), services, pool, tmp_path)
    before, _ = pool_state(pool)
    attacker = render(helm, set_values={"images.flowRunner.repository": "evil/runner"}, namespace="mlops-dev")
    (tmp_path / "attacker").mkdir()
    result = run_init_container(attacker, services, pool, tmp_path / "attacker", auth_string)
    assert result.returncode != 0
    assert "401" in result.stdout + result.stderr or "Unauthorized" in result.stdout + result.stderr
    after, _ = pool_state(pool)
    assert after == before


def test_syncing_installs_exactly_one_zombie_reaper(
    services: LocalServices, helm: str, tmp_path: Path
) -> None:
    chart = render(helm, namespace="mlops-dev")
    pool = f"pool-{uuid.uuid4().hex[:8]}"
    for attempt in ("first", "again"):
        (tmp_path / attempt).mkdir()
        sync_work_pool(chart, services, pool, tmp_path / attempt)
    with get_client(sync_client=True) as client:
        [reaper] = client.read_automations_by_name(name=automation_name(pool))
    assert reaper.enabled
    assert reaper.trigger.within == ZOMBIE_AFTER  # type: ignore[union-attr]
    # Only this pool's runs (whose Jobs heartbeat) are watched.
    assert reaper.trigger.match_related == ResourceSpecification(  # type: ignore[union-attr]
        {"prefect.resource.role": "work-pool", "prefect.resource.name": pool}
    )
    assert [action.type for action in reaper.actions] == ["change-flow-run-state"]
