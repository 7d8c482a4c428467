"""The real Prefect kubernetes worker, as the chart's worker ServiceAccount, submits a Job for a flow run of
every prefect.yaml deployment; the Jobs the API server stores meet tests/contract's expectations, and the
Job controller makes their pods (which wait: the node is tainted for the node tests' pods only)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentUpdate
from prefect.settings import temporary_settings

from devenv.services import LocalServices, Ports
from tests.charts.chart import APP_UID
from tests.contract.test_stage_jobs import (
    DEPLOYMENT_NAMES,
    GPU_DEPLOYMENTS,
    POOL_NAME,
    PREFECT_POD_SPEC_EXTRAS,
    RESOURCE_VARIABLES,
    S3_CREDENTIALS,
    TEMPLATE_DEFAULTS,
    JobManifest,
    deployment_job_variables,
    quantity,
    stage_job,
)
from tests.e2e.clients import Kubectl
from tests.e2e.cluster import ControlPlane
from tests.e2e.prefect_worker import (
    deploy_all,
    installed_template,
    service_account_kubeconfig,
    start_worker,
    wait_for_pool,
)
from tests.e2e.release import Release
from tests.e2e.waits import wait_for_unschedulable_pods

Json = dict[str, Any]
# Planted in the worker's environment: it must reach no Job (credentials come from Secrets only).
PLANTED = {name: f"planted-{name.lower()}-7d3e1b" for name in S3_CREDENTIALS}


class SubmittedJob(JobManifest):
    """The Job the real worker submitted for a flow run, as the API server stored it."""


@pytest.fixture(scope="module")
def prefect_api(control_plane: ControlPlane) -> Iterator[LocalServices]:
    # Beside the cluster's state, so that its log stays with the others after the run.
    services = LocalServices(control_plane.directory / "prefect", Ports.free())
    services.root.mkdir()
    try:
        pid = services.start_prefect()
        control_plane.processes.adopt("prefect-server", pid, ["prefect", "server", "start"])
        yield services
    finally:
        services.down()
        control_plane.processes.forget("prefect-server")


@pytest.fixture(scope="module")
def submitted(
    prefect_api: LocalServices,
    control_plane: ControlPlane,
    kubectl: Kubectl,
    release: Release,
    monkeypatch_module: pytest.MonkeyPatch,
) -> Iterator[dict[str, SubmittedJob]]:
    """One flow run per deployment, each picked up by the worker and submitted as a Job."""
    home = control_plane.directory / "prefect-worker"
    home.mkdir()
    worker_account = release.named("ServiceAccount", "prefect-worker")
    kubeconfig = service_account_kubeconfig(
        kubectl, control_plane, release.namespace, worker_account, home / "worker.kubeconfig"
    )
    for name, value in PLANTED.items():
        monkeypatch_module.setenv(name, value)
    template = installed_template(
        kubectl,
        release.namespace,
        release.named("ConfigMap", "prefect-worker"),
        home / "base-job-template.json",
    )
    processes = control_plane.processes
    auth_secret_settings = worker_auth_secret_settings(release)
    start_worker(
        processes,
        prefect_api,
        POOL_NAME,
        template,
        kubeconfig,
        release.namespace,
        home / "prefect",
        auth_secret_settings,
    )
    try:
        wait_for_pool(processes, prefect_api, POOL_NAME)
        deploy_all(prefect_api, POOL_NAME, home / "deploy-prefect", processes.log("prefect-deploy"))
        with (
            temporary_settings(updates=prefect_api.prefect_settings()),
            get_client(sync_client=True) as client,
        ):
            runs = {}
            for deployment in client.read_deployments():
                # Stage flows take the results of earlier stages (evaluate's `trained`, ...) that only a
                # pipeline run passes. These runs never execute (no node takes them), and the Job does not
                # depend on parameters, so the server's parameter check is switched off instead of faking
                # results.
                client.update_deployment(deployment.id, DeploymentUpdate(enforce_parameter_schema=False))
                runs[deployment.name] = str(client.create_flow_run_from_deployment(deployment.id).id)
        assert sorted(runs) == sorted(DEPLOYMENT_NAMES)
        yield {
            name: SubmittedJob(
                manifest=wait_for_job(kubectl, release.namespace, run_id, processes.log("prefect-worker")),
                flow_run_id=run_id,
            )
            for name, run_id in runs.items()
        }
    finally:
        processes.stop("prefect-worker")


def worker_container_env(release: Release) -> list[Json]:
    [worker] = [
        obj
        for obj in release.workloads()
        if obj["metadata"]["labels"]["app.kubernetes.io/component"] == "prefect-worker"
    ]
    env: list[Json] = worker["spec"]["template"]["spec"]["containers"][0]["env"]
    return env


def worker_auth_secret_settings(release: Release) -> dict[str, str]:
    """The chart worker's settings that make prefect-kubernetes pass the auth string by secretKeyRef."""
    prefix = "PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_"
    settings = {e["name"]: e["value"] for e in worker_container_env(release) if e["name"].startswith(prefix)}
    assert sorted(settings) == [f"{prefix}KEY", f"{prefix}NAME"]
    return settings


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield monkeypatch


def wait_for_job(
    kubectl: Kubectl, namespace: str, flow_run_id: str, worker_log: Path, timeout: float = 180
) -> Json:
    deadline = time.monotonic() + timeout
    while True:
        jobs = kubectl.get(
            "jobs", f"--namespace={namespace}", f"--selector=prefect.io/flow-run-id={flow_run_id}"
        )
        if jobs["items"]:
            assert len(jobs["items"]) == 1, jobs["items"]
            job: Json = jobs["items"][0]
            return job
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no Job for flow run {flow_run_id}; {worker_log} ends:\n{worker_log.read_text()[-3000:]}"
            )
        time.sleep(1)


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_should_run_the_template_image_with_prefects_command_for_its_flow_run(
    submitted: dict[str, SubmittedJob], deployment: str
) -> None:
    job = submitted[deployment]
    assert job.container["name"] == "prefect-job"
    # The template's default image, but train-gpu's own (tests/contract checks each).
    assert job.container["image"] == stage_job(deployment).container["image"]
    assert (job.container["image"] == TEMPLATE_DEFAULTS["image"]) is (deployment not in GPU_DEPLOYMENTS)
    assert job.container["imagePullPolicy"] == "IfNotPresent"
    assert job.container["args"] == ["prefect", "flow-run", "execute"]
    assert "command" not in job.container
    assert job.env()["PREFECT__FLOW_RUN_ID"]["value"] == job.flow_run_id
    assert job.manifest["metadata"]["labels"]["prefect.io/flow-run-id"] == job.flow_run_id


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_should_get_its_deployments_cpu_and_memory(
    submitted: dict[str, SubmittedJob], deployment: str
) -> None:
    resources = submitted[deployment].container["resources"]
    job_variables = deployment_job_variables(deployment)
    for (kind, resource), variable in RESOURCE_VARIABLES.items():
        # The API server stores quantities in canonical form ("0.5" reads back as "500m"): compare values.
        assert quantity(resources[kind][resource]) == quantity(job_variables[variable])


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_should_be_stored_in_the_release_namespace_with_ttl_deadline_and_no_retries(
    submitted: dict[str, SubmittedJob], deployment: str, release: Release
) -> None:
    job = submitted[deployment]
    assert job.manifest["metadata"]["namespace"] == release.namespace
    assert job.pod_spec["serviceAccountName"] == TEMPLATE_DEFAULTS["service_account_name"]
    assert job.pod_spec["automountServiceAccountToken"] is False
    assert job.pod_spec["restartPolicy"] == "Never"
    spec = job.manifest["spec"]
    assert (spec["ttlSecondsAfterFinished"], spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (
        3600,
        0,
        7200,
    )
    # The pod-spec extras prefect-kubernetes insists on are not pod fields: the API server drops them.
    assert not set(PREFECT_POD_SPEC_EXTRAS) & set(job.pod_spec)


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_should_run_non_root_with_a_read_only_root_and_writable_scratch(
    submitted: dict[str, SubmittedJob], deployment: str
) -> None:
    job = submitted[deployment]
    assert job.pod_spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": APP_UID,
        "runAsGroup": APP_UID,
        "fsGroup": APP_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert job.container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    empty_dirs = {volume["name"] for volume in job.pod_spec["volumes"] if "emptyDir" in volume}
    mounts = {mount["mountPath"]: mount["name"] for mount in job.container["volumeMounts"]}
    assert {mounts["/tmp"], mounts["/home/app"]} <= empty_dirs


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_should_take_credentials_only_from_the_charts_secret(
    submitted: dict[str, SubmittedJob], deployment: str, release: Release
) -> None:
    job = submitted[deployment]
    # The names the pool template defaults to are the objects the chart makes.
    secret, settings = TEMPLATE_DEFAULTS["s3_secret_name"], TEMPLATE_DEFAULTS["settings_config_map"]
    assert ("Secret", secret) in {(obj["kind"], obj["metadata"]["name"]) for obj in release.objects}
    assert ("ConfigMap", settings) in {(obj["kind"], obj["metadata"]["name"]) for obj in release.objects}
    for name in S3_CREDENTIALS:
        assert job.env()[name] == {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": name}}}
    assert job.container["envFrom"] == [{"configMapRef": {"name": settings}}]
    for value in PLANTED.values():
        assert value not in str(job.manifest)


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_should_get_the_prefect_auth_string_by_reference_never_as_a_value(
    submitted: dict[str, SubmittedJob], deployment: str, release: Release, prefect_api: LocalServices
) -> None:
    job = submitted[deployment]
    secret = release.named("Secret", "prefect-server")
    assert job.env()["PREFECT_API_AUTH_STRING"] == {
        "name": "PREFECT_API_AUTH_STRING",
        "valueFrom": {"secretKeyRef": {"name": secret, "key": "auth-string"}},
    }
    # The worker held the credential in its environment: it reached the Job only as that reference.
    password = prefect_api.prefect_auth_string().split(":", 1)[1]
    assert password not in json.dumps(job.manifest)


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_should_get_a_pod_from_the_job_controller(
    submitted: dict[str, SubmittedJob], deployment: str, kubectl: Kubectl, release: Release
) -> None:
    """Admitted (its ServiceAccount, from the pool template, is the chart's), it waits (no node takes it)."""
    job_name = submitted[deployment].manifest["metadata"]["name"]
    (pod,) = wait_for_unschedulable_pods(kubectl, release.namespace, f"job-name={job_name}")
    assert pod["spec"]["serviceAccountName"] == TEMPLATE_DEFAULTS["service_account_name"]


def test_should_need_no_more_than_the_charts_role(
    submitted: dict[str, SubmittedJob], control_plane: ControlPlane
) -> None:
    """The worker and its observer ran as the chart's ServiceAccount: nothing they did was refused, and the
    observer, watching pods with the Role's permissions, saw the unschedulable ones."""
    log = control_plane.processes.log("prefect-worker")
    deadline = time.monotonic() + 60
    while "Pod is unschedulable" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(1)
    text = log.read_text()
    assert "Pod is unschedulable" in text
    assert "Forbidden" not in text  # an ApiException (403) reads "Reason: Forbidden"
