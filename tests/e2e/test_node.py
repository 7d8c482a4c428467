"""The node runs pods: containerd and runc start the project's own image (built offline from its Dockerfile on
a debootstrap'd Debian), the CNI bridge gives them addresses, CoreDNS names Services, kube-proxy routes
Service addresses, and the API server reaches the kubelet for logs and port-forwards."""

from __future__ import annotations

import ipaddress
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.charts.chart import APP_UID
from tests.e2e.clients import Kubectl, port_forward
from tests.e2e.cluster import KUBERNETES_SERVICE_IP, ROOT, kubernetes_version
from tests.e2e.node import NODE_IP, NODE_NAME, NODE_TAINT, POD_CIDR, Node

Json = dict[str, Any]
NAMESPACE = "node-e2e"
IMAGE = "mlops-platform/flow-runner:0.1.0"  # the chart's default reference, imported by the node
# What a Job's pod reports about where it runs, as one JSON line.
PROBE = """
import json, os, socket, ssl, urllib.request
import flows
account = "/var/run/secrets/kubernetes.io/serviceaccount"
context = ssl.create_default_context(cafile=f"{account}/ca.crt")
request = urllib.request.Request(
    "https://kubernetes.default.svc/version",
    headers={"Authorization": "Bearer " + open(f"{account}/token").read()},
)
print(json.dumps({
    "kubernetes": socket.gethostbyname("kubernetes.default.svc.cluster.local"),
    "version": json.load(urllib.request.urlopen(request, context=context, timeout=10))["gitVersion"],
    "uid": os.getuid(),
    "address": socket.gethostbyname(socket.gethostname()),
    "project": os.path.dirname(flows.__file__),
}))
"""


def restricted_pod_spec(command: list[str], **extra: Any) -> Json:
    """A pod spec the restricted Pod Security profile admits, tolerating the node's taint."""
    return {
        "tolerations": [{"key": NODE_TAINT, "operator": "Exists", "effect": "NoSchedule"}],
        "automountServiceAccountToken": True,
        # A Python process as PID 1 ignores SIGTERM: do not wait the default 30 s to kill it.
        "terminationGracePeriodSeconds": 1,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "main",
                "image": IMAGE,
                "imagePullPolicy": "Never",
                "command": command,
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                **extra,
            }
        ],
        **({"restartPolicy": "Never"} if "readinessProbe" not in extra else {}),
    }


def job(name: str, command: list[str]) -> Json:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"backoffLimit": 0, "template": {"spec": restricted_pod_spec(command)}},
    }


def apply(kubectl: Kubectl, *objects: Json) -> None:
    kubectl(
        "apply",
        "--filename=-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}),
    )


def wait_for_job(kubectl: Kubectl, name: str, timeout: float = 180) -> str:
    """Until the Job completes; its pod's log. Fails with the pod's state and events when it does not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = kubectl.get("job", name, f"--namespace={NAMESPACE}").get("status", {})
        if status.get("succeeded") or status.get("failed"):
            break
        time.sleep(1)
    log = kubectl("logs", f"job/{name}", f"--namespace={NAMESPACE}")
    if not status.get("succeeded"):
        pods = kubectl("describe", "pods", f"--selector=job-name={name}", f"--namespace={NAMESPACE}")
        raise AssertionError(f"Job {name} did not complete: {status}\n{log}\n{pods}")
    return log


@pytest.fixture(scope="module")
def namespace(node: Node, kubectl: Kubectl) -> Iterator[str]:
    apply(
        kubectl,
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
        },
    )
    yield NAMESPACE
    kubectl("delete", "namespace", NAMESPACE, "--wait=true", "--timeout=120s")


def test_should_register_ready_on_the_bridge_with_the_pinned_kubelet_and_its_taint(
    node: Node, kubectl: Kubectl
) -> None:
    deadline = time.monotonic() + 60
    while True:
        found = kubectl.get("node", NODE_NAME)
        ready = [c for c in found["status"]["conditions"] if c["type"] == "Ready"]
        if (ready and ready[0]["status"] == "True") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert ready[0]["status"] == "True", found["status"]["conditions"]
    info = found["status"]["nodeInfo"]
    assert info["kubeletVersion"] == kubernetes_version()
    assert info["containerRuntimeVersion"].startswith("containerd://")
    assert {"type": "InternalIP", "address": NODE_IP} in found["status"]["addresses"]
    assert {"key": NODE_TAINT, "effect": "NoSchedule"} in found["spec"]["taints"]


def test_should_run_a_job_of_the_project_image_that_reaches_the_api_through_dns_and_its_service(
    namespace: str, kubectl: Kubectl
) -> None:
    apply(kubectl, job("probe", ["python", "-c", PROBE]))
    report = json.loads(wait_for_job(kubectl, "probe").strip().splitlines()[-1])
    assert report["kubernetes"] == KUBERNETES_SERVICE_IP  # CoreDNS, from the Service
    assert report["version"] == kubernetes_version()  # through kube-proxy's DNAT to the API server
    assert report["uid"] == APP_UID  # the image's own non-root user
    assert ipaddress.ip_address(report["address"]) in ipaddress.ip_network(POD_CIDR)
    assert report["project"] == "/app/flows"


def test_should_route_a_service_to_its_pod_for_another_pod_and_for_a_port_forward(
    namespace: str, kubectl: Kubectl
) -> None:
    web = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": namespace, "labels": {"app": "web"}},
        "spec": restricted_pod_spec(
            ["python", "-m", "http.server", "8080", "--directory", "/app"],
            ports=[{"containerPort": 8080}],
            readinessProbe={"httpGet": {"path": "/prefect.yaml", "port": 8080}, "periodSeconds": 1},
        ),
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    apply(kubectl, web, service)
    kubectl("wait", "pod/web", "--for=condition=Ready", f"--namespace={namespace}", "--timeout=120s")
    expected = (ROOT / "prefect.yaml").read_text().splitlines()[0]  # the image's copy, served

    # kube-proxy programs a new endpoint within about a second of its pod turning Ready; until then the
    # Service refuses connections, so the client retries as any client of a fresh Service does.
    fetch = f"""
import sys, time, urllib.request
for attempt in range(30):
    try:
        url = "http://web.{namespace}.svc.cluster.local/prefect.yaml"
        body = urllib.request.urlopen(url, timeout=10).read()
        break
    except OSError as error:
        print(f"attempt {{attempt}}: {{error}}", file=sys.stderr)
        time.sleep(1)
else:
    raise SystemExit("the Service never answered")
print(body.decode().splitlines()[0])
"""
    apply(kubectl, job("client", ["python", "-c", fetch]))
    assert wait_for_job(kubectl, "client").strip().splitlines()[-1] == expected

    with (
        port_forward(kubectl, namespace, "service/web", 80) as port,
        urllib.request.urlopen(f"http://127.0.0.1:{port}/prefect.yaml", timeout=10) as response,
    ):
        page = response.read()
    assert page.decode().splitlines()[0] == expected
