"""Contract: the Kubernetes Job each prefect.yaml deployment gets from the work pool's base job template.

Each manifest is built by prefect-kubernetes' own code, as its worker does before it submits one:
`KubernetesWorkerJobConfiguration.from_template_and_values(...)`, then `prepare_for_flow_run(...)` with
in-memory Prefect objects. It is then checked offline against the Kubernetes API schemas that
kubernetes-validate ships. No Prefect server, cluster or network is needed.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from unittest.mock import patch

import kubernetes_validate
import pytest
import yaml
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import Flow, FlowRun, WorkPool
from prefect.client.schemas.responses import DeploymentResponse
from prefect.settings import (
    PREFECT_API_AUTH_STRING,
    PREFECT_API_KEY,
    PREFECT_API_URL,
    temporary_settings,
)
from prefect.utilities.schema_tools.validation import ValidationError, is_valid_schema, validate
from prefect.utilities.templating import apply_values, find_placeholders
from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

from devenv import chart_image
from flows.zombie_runs import HEARTBEAT_SECONDS, ZOMBIE_AFTER
from tests.charts.chart import APP_UID

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "infra" / "work-pool" / "kubernetes-job-template.json"
PREFECT_YAML_PATH = ROOT / "prefect.yaml"

API_URL = "http://prefect-server.mlops.svc.cluster.local:4200/api"
POOL_NAME = "mlops-kubernetes"
WORKER_NAME = "mlops-kubernetes-worker"
CREDENTIAL_WORDS = ("KEY", "SECRET", "PASSWORD", "TOKEN")
S3_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# Present in the pod spec only because prefect-kubernetes refuses a manifest without them (its
# `_validate_job_manifest`); they are Job-spec fields, so the API server drops them with a warning.
PREFECT_POD_SPEC_EXTRAS = {"parallelism": 1, "completions": 1}
RESOURCE_VARIABLES = {
    ("requests", "cpu"): "cpu_request",
    ("limits", "cpu"): "cpu_limit",
    ("requests", "memory"): "memory_request",
    ("limits", "memory"): "memory_limit",
}
QUANTITY_SUFFIXES = {
    "": 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
}

Json = dict[str, Any]


def load_template() -> Json:
    template: Json = json.loads(TEMPLATE_PATH.read_text())
    return template


# The environment `prefect deploy` reads prefect.yaml's `{{ $VAR }}` placeholders from: the cluster worker's
# (the chart's settings ConfigMap), as `make deploy-flows` runs it there.
DEPLOY_ENV = {
    "MLOPS_WORK_POOL": POOL_NAME,
    "MLOPS_PROJECT_DIR": "/app",
    "MLOPS_GPU_IMAGE": chart_image("flowRunnerGpu"),
}


def load_deployments() -> dict[str, Json]:
    # As `prefect deploy` resolves them (prefect.cli.deploy: `{{ $VAR }}` from os.environ), in the cluster
    # worker's environment.
    with patch.dict(os.environ, DEPLOY_ENV):
        document = apply_values(yaml.safe_load(PREFECT_YAML_PATH.read_text()), {}, remove_notset=False)
    assert isinstance(document, dict)
    return {deployment["name"]: deployment for deployment in document["deployments"]}


DEPLOYMENTS = load_deployments()
DEPLOYMENT_NAMES = list(DEPLOYMENTS)
# The deployments that train on a GPU node: their Job variables name their own image and placement.
GPU_DEPLOYMENTS = [name for name in DEPLOYMENT_NAMES if name.endswith("-gpu")]
CPU_DEPLOYMENTS = [name for name in DEPLOYMENT_NAMES if name not in GPU_DEPLOYMENTS]
GPU_RESOURCE = "nvidia.com/gpu"
TEMPLATE_DEFAULTS = {
    name: spec.get("default") for name, spec in load_template()["variables"]["properties"].items()
}


@dataclass(frozen=True)
class JobManifest:
    """A Kubernetes Job as a dict, with the parts the checks read (also used by tests/e2e)."""

    manifest: Json
    flow_run_id: str

    @property
    def pod_spec(self) -> Json:
        pod_spec: Json = self.manifest["spec"]["template"]["spec"]
        return pod_spec

    @property
    def container(self) -> Json:
        container: Json = self.pod_spec["containers"][0]
        return container

    def env(self) -> dict[str, Json]:
        return {entry["name"]: entry for entry in self.container["env"]}


@dataclass(frozen=True)
class StageJob(JobManifest):
    deployment: str
    job_variables: Json


def deployment_job_variables(deployment: str) -> Json:
    return dict(DEPLOYMENTS[deployment]["work_pool"].get("job_variables") or {})


def build_stage_job(deployment: str, overrides: Json | None = None) -> StageJob:
    """The manifest the worker would submit for a flow run of `deployment`, built by its own code."""
    template = load_template()
    job_variables = {**deployment_job_variables(deployment), **(overrides or {})}
    entrypoint: str = DEPLOYMENTS[deployment]["entrypoint"]
    # model_validate, like the worker's API client does with the server's answers.
    flow = Flow.model_validate({"name": entrypoint.rsplit(":", 1)[1].replace("_", "-")})
    api_deployment = DeploymentResponse.model_validate(
        {
            "name": deployment,
            "flow_id": flow.id,
            "entrypoint": entrypoint,
            "job_variables": job_variables,
            "work_pool_name": POOL_NAME,
        }
    )
    flow_run = FlowRun.model_validate(
        {"name": f"{deployment}-contract-run", "flow_id": flow.id, "deployment_id": api_deployment.id}
    )
    work_pool = WorkPool.model_validate(
        {"name": POOL_NAME, "type": "kubernetes", "base_job_template": template}
    )
    # The worker copies every Prefect setting set in its own environment into the Job's env as plain values
    # (an API key would land there): the cluster worker sets the API URL and no API key or auth string.
    with temporary_settings(
        updates={PREFECT_API_URL: API_URL},
        restore_defaults={PREFECT_API_KEY, PREFECT_API_AUTH_STRING},
    ):
        # An explicit client that is never entered or called: the template has no block or variable refs.
        configuration = asyncio.run(
            KubernetesWorkerJobConfiguration.from_template_and_values(
                template, job_variables, client=PrefectClient(API_URL)
            )
        )
        configuration.prepare_for_flow_run(
            flow_run=flow_run,
            deployment=api_deployment,
            flow=flow,
            work_pool=work_pool,
            worker_name=WORKER_NAME,
        )
    return StageJob(
        manifest=configuration.job_manifest,
        flow_run_id=str(flow_run.id),
        deployment=deployment,
        job_variables=job_variables,
    )


@cache
def stage_job(deployment: str) -> StageJob:
    return build_stage_job(deployment)


def quantity(value: str) -> float:
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)", value)
    assert match is not None, f"not a Kubernetes quantity: {value!r}"
    return float(match[1]) * QUANTITY_SUFFIXES[match[2]]


def validate_job_variables(job_variables: Json) -> None:
    """Validate as the Prefect server does for a deployment's job variables (jsonschema, draft 2020-12)."""
    validate(
        {**TEMPLATE_DEFAULTS, **job_variables},
        load_template()["variables"],
        raise_on_error=True,
        preprocess=True,
        ignore_required=True,
        allow_none_with_default=True,
    )


def assert_valid_for_kubernetes(job: StageJob, version: str) -> None:
    # The exact manifest the worker submits, against the schema the API server applies...
    assert kubernetes_validate.validate(job.manifest, version, strict=False) == version
    # ...and, with Prefect's two pod-spec extras set aside, with no unknown (misspelt) field anywhere.
    strict_manifest = copy.deepcopy(job.manifest)
    pod_spec = strict_manifest["spec"]["template"]["spec"]
    assert {key: pod_spec.pop(key) for key in PREFECT_POD_SPEC_EXTRAS} == PREFECT_POD_SPEC_EXTRAS
    assert kubernetes_validate.validate(strict_manifest, version, strict=True) == version


# --- the template itself -------------------------------------------------------------------------------


def test_template_variables_are_a_valid_json_schema_with_title_description_and_default_each() -> None:
    variables = load_template()["variables"]
    is_valid_schema(variables, preprocess=False)  # raises ValueError, as the server checks it
    for name, spec in variables["properties"].items():
        assert spec.get("title") and spec.get("description") and "default" in spec, name
    validate_job_variables({})


def test_every_template_placeholder_is_a_declared_variable() -> None:
    template = load_template()
    placeholders = {p.name for p in find_placeholders(template["job_configuration"])}
    assert placeholders <= set(template["variables"]["properties"])


def test_template_image_default_is_pinned_not_latest() -> None:
    image = TEMPLATE_DEFAULTS["image"]
    assert isinstance(image, str) and ":" in image and not image.endswith(":latest")


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_every_deployments_job_variables_are_accepted_by_the_pool_schema(deployment: str) -> None:
    job_variables = deployment_job_variables(deployment)
    assert set(job_variables) <= set(TEMPLATE_DEFAULTS), "job variable the pool does not declare"
    validate_job_variables(job_variables)


def test_pool_schema_rejects_a_cpu_request_that_is_not_a_string() -> None:
    validate_job_variables({"cpu_request": "5"})
    with pytest.raises(ValidationError, match="field 'cpu_request'"):
        validate_job_variables({"cpu_request": 5})


@pytest.mark.parametrize("image", ["mlops-platform/flow-runner:latest", "mlops-platform/flow-runner"])
def test_pool_schema_rejects_an_unpinned_image(image: str) -> None:
    with pytest.raises(ValidationError, match=r"'image'.*does not match"):
        validate_job_variables({"image": image})


@pytest.mark.parametrize("name", [*S3_CREDENTIALS, "MLFLOW_TRACKING_TOKEN", "DB_PASSWORD"])
def test_pool_schema_rejects_a_credential_as_a_plain_env_job_variable(name: str) -> None:
    with pytest.raises(ValidationError, match=r"'env'.*should not be valid"):
        validate_job_variables({"env": {name: "literal"}})


def test_pool_schema_rejects_a_toleration_with_an_unknown_effect() -> None:
    toleration = {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}
    validate_job_variables({"tolerations": [toleration]})
    with pytest.raises(ValidationError, match="'Sometimes' is not one of"):
        validate_job_variables({"tolerations": [toleration | {"effect": "Sometimes"}]})


# --- the Job each deployment gets ----------------------------------------------------------------------


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_every_stage_job_is_valid_against_kubernetes_1_36(deployment: str) -> None:
    assert_valid_for_kubernetes(stage_job(deployment), "1.36")


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_every_stage_job_is_valid_against_kubernetes_1_37(deployment: str) -> None:
    assert_valid_for_kubernetes(stage_job(deployment), "1.37")


@pytest.mark.parametrize("deployment", CPU_DEPLOYMENTS)
def test_every_stage_job_runs_the_template_default_image(deployment: str) -> None:
    job = stage_job(deployment)
    assert job.container["name"] == "prefect-job"
    assert job.container["image"] == TEMPLATE_DEFAULTS["image"]
    assert job.container["imagePullPolicy"] == "IfNotPresent"


@pytest.mark.parametrize("deployment", CPU_DEPLOYMENTS)
def test_every_stage_pod_may_run_on_any_untainted_node_by_default(deployment: str) -> None:
    assert stage_job(deployment).pod_spec["nodeSelector"] == {}
    assert stage_job(deployment).pod_spec["tolerations"] == []


def test_node_selector_and_tolerations_job_variables_place_the_stage_pod() -> None:
    placement = {
        "node_selector": {"pool": "ml"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
    }
    validate_job_variables(placement)
    job = build_stage_job("train", placement)
    assert job.pod_spec["nodeSelector"] == placement["node_selector"]
    assert job.pod_spec["tolerations"] == placement["tolerations"]
    assert_valid_for_kubernetes(job, "1.36")


def test_an_image_job_variable_overrides_the_template_default() -> None:
    image = "registry.example.com/mlops-platform/flow-runner:0.2.0"
    validate_job_variables({"image": image})
    assert build_stage_job("train", {"image": image}).container["image"] == image


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_every_stage_job_runs_prefects_flow_run_command_for_its_own_flow_run(deployment: str) -> None:
    job = stage_job(deployment)
    assert job.container["args"] == ["prefect", "flow-run", "execute"]
    assert "command" not in job.container  # the image's entrypoint runs the args
    env = job.env()
    assert env["PREFECT__FLOW_RUN_ID"] == {"name": "PREFECT__FLOW_RUN_ID", "value": job.flow_run_id}
    assert env["PREFECT_API_URL"]["value"] == API_URL
    assert job.manifest["metadata"]["labels"]["prefect.io/flow-run-id"] == job.flow_run_id


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_every_stage_job_heartbeats_at_the_interval_the_zombie_reaper_expects(deployment: str) -> None:
    """A run that stops heartbeating is crashed after ZOMBIE_AFTER: every stage must beat more often."""
    interval = int(stage_job(deployment).env()["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]["value"])
    assert interval == HEARTBEAT_SECONDS
    assert 2 * interval < ZOMBIE_AFTER.total_seconds()  # one late heartbeat is not a zombie


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_every_stage_job_gets_its_deployments_cpu_and_memory(deployment: str) -> None:
    job = stage_job(deployment)
    for (kind, resource), variable in RESOURCE_VARIABLES.items():
        assert job.container["resources"][kind][resource] == job.job_variables[variable]


def test_train_job_gets_more_cpu_and_memory_than_every_other_stage() -> None:
    def resources(deployment: str) -> dict[tuple[str, str], float]:
        container_resources = stage_job(deployment).container["resources"]
        return {(kind, name): quantity(container_resources[kind][name]) for kind, name in RESOURCE_VARIABLES}

    train = resources("train")
    for other in (name for name in CPU_DEPLOYMENTS if name != "train"):
        assert all(train[key] > value for key, value in resources(other).items()), other
    for gpu in GPU_DEPLOYMENTS:  # the GPU does the boosting; the data still passes through the CPU
        assert resources(gpu) == train, gpu


# --- GPU training ----------------------------------------------------------------------------------------


def test_there_is_a_gpu_train_deployment_of_the_train_flow() -> None:
    assert GPU_DEPLOYMENTS == ["train-gpu"]
    assert DEPLOYMENTS["train-gpu"]["entrypoint"] == DEPLOYMENTS["train"]["entrypoint"]


@pytest.mark.parametrize("deployment", GPU_DEPLOYMENTS)
def test_the_gpu_train_job_asks_for_one_gpu_and_trains_with_cuda_in_the_gpu_image(deployment: str) -> None:
    job = stage_job(deployment)
    assert job.container["resources"]["limits"][GPU_RESOURCE] == 1
    assert GPU_RESOURCE not in job.container["resources"]["requests"]  # Kubernetes sets it to the limit
    env = job.env()
    assert env["MLOPS_DEVICE"] == {"name": "MLOPS_DEVICE", "value": "cuda"}
    # The GPU is the Job's own: the settings ConfigMap's MLOPS_TRAIN_ENGINE=dask (dask.enabled) is overridden.
    assert env["MLOPS_TRAIN_ENGINE"] == {"name": "MLOPS_TRAIN_ENGINE", "value": "local"}
    # The chart's images.flowRunnerGpu (the CUDA xgboost wheel), of the CPU image's release.
    cpu_image = str(TEMPLATE_DEFAULTS["image"])
    assert job.container["image"] == chart_image("flowRunnerGpu")
    assert job.container["image"] == cpu_image.replace("/flow-runner:", "/flow-runner-gpu:")


@pytest.mark.parametrize("deployment", GPU_DEPLOYMENTS)
def test_the_gpu_train_pod_runs_only_on_a_gpu_node_and_tolerates_its_taint(deployment: str) -> None:
    job = stage_job(deployment)
    assert job.pod_spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert job.pod_spec["tolerations"] == [
        {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
    ]


@pytest.mark.parametrize("deployment", CPU_DEPLOYMENTS)
def test_every_other_stage_job_asks_for_no_gpu(deployment: str) -> None:
    assert stage_job(deployment).container["resources"]["limits"][GPU_RESOURCE] == 0


def test_a_gpu_limit_job_variable_asks_for_that_many_gpus() -> None:
    validate_job_variables({"gpu_limit": 2})
    job = build_stage_job("train", {"gpu_limit": 2})
    assert job.container["resources"]["limits"][GPU_RESOURCE] == 2
    assert_valid_for_kubernetes(job, "1.36")


@pytest.mark.parametrize("gpus", [-1, "1", 0.5])
def test_pool_schema_rejects_a_gpu_limit_that_is_not_a_whole_number_of_gpus(gpus: object) -> None:
    with pytest.raises(ValidationError, match="gpu_limit"):
        validate_job_variables({"gpu_limit": gpus})


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_every_stage_job_runs_in_mlops_namespace_with_ttl_deadline_and_no_kubernetes_retries(
    deployment: str,
) -> None:
    job = stage_job(deployment)
    assert job.manifest["apiVersion"] == "batch/v1" and job.manifest["kind"] == "Job"
    assert job.manifest["metadata"]["namespace"] == "mlops"
    assert job.pod_spec["serviceAccountName"] == "mlops-flow-runner"
    assert job.pod_spec["restartPolicy"] == "Never"
    spec = job.manifest["spec"]
    assert spec["ttlSecondsAfterFinished"] == 3600
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 7200
    # With backoffLimit 0 the worker tells the flow run to reschedule itself when its pod is evicted.
    assert job.env()["PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR"]["value"] == "reschedule"


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_every_stage_pod_is_non_root_with_a_read_only_root_and_writable_scratch(deployment: str) -> None:
    job = stage_job(deployment)
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
    # The root filesystem is read-only: HOME (Prefect's, DVC's and matplotlib's caches) and the
    # pipeline's scratch space (MLOPS_HOME, inside HOME) are emptyDirs, and so is /tmp, where DVC keeps
    # its per-repository state (by default in /var/tmp/dvc, which a read-only root refuses).
    assert job.env()["MLOPS_HOME"]["value"] == "/home/app/.mlops"
    assert job.env()["DVC_SITE_CACHE_DIR"]["value"] == "/tmp/dvc"
    assert {mounts["/tmp"], mounts["/home/app"]} <= empty_dirs


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_every_stage_job_takes_credentials_only_from_secret_key_refs(deployment: str) -> None:
    job = stage_job(deployment)
    env = job.env()
    assert len(env) == len(job.container["env"]), "duplicate env names"
    for name, entry in env.items():
        if any(word in name for word in CREDENTIAL_WORDS):
            assert "value" not in entry and "secretKeyRef" in entry.get("valueFrom", {}), name
    for name in S3_CREDENTIALS:
        assert env[name] == {
            "name": name,
            "valueFrom": {"secretKeyRef": {"name": "mlops-s3-credentials", "key": name}},
        }
    assert job.container["envFrom"] == [{"configMapRef": {"name": "mlops-settings"}}]


def test_a_planted_secret_in_the_worker_environment_appears_in_no_stage_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    planted = {name: f"planted-{name.lower()}-4f9c2a" for name in S3_CREDENTIALS}
    for name, value in planted.items():
        monkeypatch.setenv(name, value)
    for deployment in DEPLOYMENT_NAMES:
        serialized = json.dumps(build_stage_job(deployment).manifest)
        for value in planted.values():
            assert value not in serialized, deployment


def test_secret_key_refs_survive_extra_env_job_variables() -> None:
    job = build_stage_job("train", {"env": {"MLOPS_MAX_BATCH_BYTES": "1000000"}})
    env = job.env()
    assert env["MLOPS_MAX_BATCH_BYTES"] == {"name": "MLOPS_MAX_BATCH_BYTES", "value": "1000000"}
    assert env["MLOPS_HOME"]["value"] == "/home/app/.mlops"
    assert "PREFECT__FLOW_RUN_ID" in env
    for name in S3_CREDENTIALS:
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "mlops-s3-credentials"
