"""The chart on the node: its PostgreSQL, MinIO, MLflow, Prefect server and worker run from the images built
offline, the bucket hook Job completes, and each service answers through `kubectl port-forward`."""

from __future__ import annotations

import base64
import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.charts.chart import CHART
from tests.e2e.clients import Helm, Kubectl, port_forward
from tests.e2e.node import NODE_TAINT, Node
from tests.e2e.release import documents

Json = dict[str, Any]
RELEASE = NAMESPACE = "platform"
# The images `make node-images` built, under the chart's references; PostgreSQL and the Prefect server
# stand in for the official images (Debian's PostgreSQL 15, Prefect from the flow-runner image).
VALUES = {
    "tolerations[0].key": NODE_TAINT,
    "tolerations[0].operator": "Exists",
    "tolerations[0].effect": "NoSchedule",
    "images.postgres.repository": "mlops-platform/postgres",
    "images.postgres.tag": "15-bookworm",
    "images.prefectServer.repository": "mlops-platform/flow-runner",
    "images.prefectServer.tag": "0.1.0",
    "postgres.persistence.size": "1Gi",
    "minio.persistence.size": "2Gi",
}
SET = [f"--set={key}={value}" for key, value in VALUES.items()]


def persistent_volumes(manifests: list[Json], directory: Path) -> list[Json]:
    """One hostPath volume per claim the StatefulSets will make, bound to it by name and owned by the
    pod's user (a hostPath ignores fsGroup): the node has no provisioner."""
    volumes = []
    for stateful_set in (m for m in manifests if m["kind"] == "StatefulSet"):
        user = stateful_set["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
        for template in stateful_set["spec"]["volumeClaimTemplates"]:
            claim = f"{template['metadata']['name']}-{stateful_set['metadata']['name']}-0"
            path = directory / claim
            path.mkdir(parents=True, mode=0o700)
            os.chown(path, user, user)
            volumes.append(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {"name": f"{NAMESPACE}-{claim}"},
                    "spec": {
                        "capacity": {"storage": template["spec"]["resources"]["requests"]["storage"]},
                        "accessModes": template["spec"]["accessModes"],
                        "persistentVolumeReclaimPolicy": "Retain",
                        "storageClassName": "",
                        "claimRef": {"namespace": NAMESPACE, "name": claim},
                        "hostPath": {"path": str(path), "type": "Directory"},
                    },
                }
            )
    return volumes


def secret(kubectl: Kubectl, name: str) -> dict[str, str]:
    data = kubectl.get("secret", name, f"--namespace={NAMESPACE}")["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


@pytest.fixture(scope="module")
def platform(node: Node, helm: Helm, kubectl: Kubectl) -> Iterator[list[Json]]:
    """The chart installed with its hooks, waited for: every workload ready, the bucket Job done."""
    manifests = documents(helm("template", RELEASE, str(CHART), f"--namespace={NAMESPACE}", *SET))
    volumes = persistent_volumes(manifests, node.directory / "volumes")
    kubectl("apply", "--filename=-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": volumes}))
    try:
        helm(
            "install",
            RELEASE,
            str(CHART),
            f"--namespace={NAMESPACE}",
            "--create-namespace",
            *SET,
            "--wait",
            "--wait-for-jobs",
            "--timeout=15m",
            timeout=1000,
        )
        yield manifests
    finally:
        pods = kubectl("get", "pods", f"--namespace={NAMESPACE}", "--output=wide")
        print(f"pods of the release:\n{pods}")


def test_should_run_every_workload_of_the_chart_on_the_node(platform: list[Json], kubectl: Kubectl) -> None:
    pods = kubectl.get("pods", f"--namespace={NAMESPACE}")["items"]
    running = {
        pod["metadata"]["labels"]["app.kubernetes.io/component"]
        for pod in pods
        if pod["status"]["phase"] == "Running"
    }
    workloads = {
        m["metadata"]["labels"]["app.kubernetes.io/component"]
        for m in platform
        if m["kind"] in ("Deployment", "StatefulSet")
    }
    assert running == workloads
    assert all(pod["spec"]["nodeName"] for pod in pods)


def test_should_create_the_buckets_in_the_in_cluster_minio(platform: list[Json], kubectl: Kubectl) -> None:
    credentials = secret(kubectl, "mlops-s3-credentials")
    with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-minio", 9000) as port:
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        )
        buckets = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
    assert buckets == {"mlops-data", "mlops-landing", "mlflow-artifacts"}


def test_should_serve_mlflow_on_its_postgres_database(platform: list[Json], kubectl: Kubectl) -> None:
    with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-mlflow", 5000) as port:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=10",
            headers={"Host": "127.0.0.1:5000"},  # one of the chart's allowed hosts
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            experiments = json.load(response)["experiments"]
    assert [e["name"] for e in experiments] == ["Default"]


def test_should_have_the_worker_polling_its_kubernetes_pool_on_the_in_cluster_server(
    platform: list[Json], kubectl: Kubectl
) -> None:
    with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-prefect-server", 4200) as port:
        api = f"http://127.0.0.1:{port}/api"
        with urllib.request.urlopen(f"{api}/work_pools/mlops-kubernetes", timeout=30) as response:
            pool = json.load(response)
        request = urllib.request.Request(
            f"{api}/work_pools/mlops-kubernetes/workers/filter",
            data=b"{}",
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            workers = json.load(response)
    assert pool["type"] == "kubernetes"
    assert [worker["status"] for worker in workers] == ["ONLINE"]
