"""The chart's pods and the flow-run Jobs' pods, admitted by the API server's PodSecurity admission in a
namespace that enforces the "restricted" standard (what tests/charts/test_pod_security.py checks offline)."""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.charts.chart import Json, Rendered, pod_spec, pod_template, render
from tests.contract.test_stage_jobs import DEPLOYMENT_NAMES, PREFECT_POD_SPEC_EXTRAS, stage_job
from tests.e2e.clients import Helm, Kubectl
from tests.e2e.waits import wait_for_object

NAMESPACE = "mlops-restricted"
ENFORCED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def as_pod(name: str, spec: Json, labels: dict[str, str]) -> Json:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": spec}


def workload_pods(chart: Rendered) -> list[Json]:
    """Each workload's pod as its controller would create it (a StatefulSet adds its claims as volumes)."""
    pods = []
    for workload in chart.workloads():
        spec = copy.deepcopy(pod_spec(workload))
        for claim in workload["spec"].get("volumeClaimTemplates", []):
            name = claim["metadata"]["name"]
            claim_name = f"{name}-{workload['metadata']['name']}-0"
            spec.setdefault("volumes", []).append(
                {"name": name, "persistentVolumeClaim": {"claimName": claim_name}}
            )
        pods.append(as_pod(workload["metadata"]["name"], spec, pod_template(workload)["metadata"]["labels"]))
    return pods


def flow_run_pods() -> list[Json]:
    pods = []
    for deployment in DEPLOYMENT_NAMES:
        job = stage_job(deployment)
        spec = copy.deepcopy(job.pod_spec)
        for key in PREFECT_POD_SPEC_EXTRAS:  # Job fields prefect-kubernetes puts in the pod spec
            spec.pop(key)
        pods.append(
            as_pod(f"flow-run-{deployment}", spec, job.manifest["spec"]["template"]["metadata"]["labels"])
        )
    return pods


@pytest.fixture(scope="module")
def restricted_namespace(kubectl: Kubectl, helm: Helm) -> str:
    """A namespace enforcing "restricted", with the chart's ServiceAccounts (pods name them)."""
    namespace: Json = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": ENFORCED},
    }
    kubectl("create", "--filename=-", stdin=yaml.safe_dump(namespace))
    accounts = render(helm.binary, namespace=NAMESPACE).of_kind("ServiceAccount")
    kubectl("create", f"--namespace={NAMESPACE}", "--filename=-", stdin=yaml.safe_dump_all(accounts))
    # Pods without a serviceAccountName get `default`, which the controller-manager creates a moment later.
    wait_for_object(kubectl, "serviceaccount", "default", f"--namespace={NAMESPACE}")
    return NAMESPACE


def create_dry_run(kubectl: Kubectl, pod: Json) -> str:
    result = kubectl.attempt(
        "create", "--dry-run=server", f"--namespace={NAMESPACE}", "--filename=-", stdin=yaml.safe_dump(pod)
    )
    return result.stdout + result.stderr


def test_should_refuse_a_privileged_pod_so_the_namespace_really_enforces(
    restricted_namespace: str, kubectl: Kubectl
) -> None:
    pod = as_pod(
        "privileged",
        {"containers": [{"name": "c", "image": "busybox:1", "securityContext": {"privileged": True}}]},
        {},
    )
    assert 'violates PodSecurity "restricted:latest"' in create_dry_run(kubectl, pod)


def test_should_admit_the_pod_of_every_chart_workload(
    restricted_namespace: str, helm: Helm, kubectl: Kubectl
) -> None:
    pods = workload_pods(render(helm.binary, namespace=NAMESPACE))
    assert {pod["metadata"]["name"] for pod in pods} >= {"mlops-platform-minio", "mlops-platform-postgres"}
    for pod in pods:
        answer = create_dry_run(kubectl, pod)
        assert "created (server dry run)" in answer, answer


def test_should_admit_the_pod_of_every_flow_run_job(restricted_namespace: str, kubectl: Kubectl) -> None:
    for pod in flow_run_pods():
        answer = create_dry_run(kubectl, pod)
        assert "created (server dry run)" in answer, answer
