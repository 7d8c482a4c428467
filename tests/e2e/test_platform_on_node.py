"""The chart on the node: its PostgreSQL, MinIO, MLflow, Prefect server and worker run from the images built
offline, the bucket hook Job completes, and each service answers through `kubectl port-forward`. Then the
cluster steps of docs/kubernetes.md run the pipeline on batch 1: each stage a Job on the node, its data
pulled by hash from the in-cluster MinIO, the model registered in the in-cluster MLflow."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from tests.charts.chart import CHART, ROOT
from tests.e2e.clients import Helm, Kubectl, port_forward, run
from tests.e2e.cluster import wait_until
from tests.e2e.conftest import TIMINGS
from tests.e2e.node import NODE_TAINT, Node, sets_holding
from tests.e2e.release import documents
from tests.prefect_http import PrefectHttp

Json = dict[str, Any]
RELEASE = NAMESPACE = "platform"
# The chart's flow-runner image: the worker's, the flow-run Jobs' (the pool's default) and here the Prefect
# server's too.
FLOW_RUNNER = yaml.safe_load((CHART / "values.yaml").read_text())["images"]["flowRunner"]
# The images `make node-images` built, under the chart's references; PostgreSQL and the Prefect server
# stand in for the official images (Debian's PostgreSQL 15, Prefect from the flow-runner image).
SERVICES = ("postgres", "prefectServer", "worker", "mlflow", "minio")
VALUES = {
    "tolerations[0].key": NODE_TAINT,
    "tolerations[0].operator": "Exists",
    "tolerations[0].effect": "NoSchedule",
    "images.postgres.repository": "mlops-platform/postgres",
    "images.postgres.tag": "15-bookworm",
    "images.prefectServer.repository": FLOW_RUNNER["repository"],
    "images.prefectServer.tag": FLOW_RUNNER["tag"],
    "postgres.persistence.size": "1Gi",
    "minio.persistence.size": "2Gi",
    # The node has 2 CPUs: the pipeline's Job (250m) and the train Job (1 CPU) fit beside the platform only
    # when its five services ask for 100m each (1.1 CPU by default).
    **{f"{service}.resources.requests.cpu": "100m" for service in SERVICES},
}
SET = [f"--set={key}={value}" for key, value in VALUES.items()]
# The upgrade after training: the operator resizes every service, so each workload rolls, each migration runs
# again and the post-upgrade bucket Job sets its policies again.
RESIZED = [f"--set={service}.resources.requests.cpu=90m" for service in SERVICES]
# Backups kept off-site: a MinIO of its own in another namespace, which losing the release's volumes spares.
OFFSITE = "offsite"
OFFSITE_BUCKET = "offsite-backups"
BACKUP_TO_OFFSITE = [
    f"--set=backup.destination.url=s3://{OFFSITE_BUCKET}/{RELEASE}",
    f"--set=backup.destination.endpoint=http://{OFFSITE}-minio.{OFFSITE}.svc.cluster.local:9000",
    f"--set=backup.destination.existingSecret={OFFSITE}-backups",
]
PIPELINE = "ML Training Pipeline/ml-pipeline"
STAGES = ("ingest", "prepare", "train", "evaluate", "promote")


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


def mlflow_call(
    kubectl: Kubectl, path: str, role: str | None = "reader", body: Json | None = None
) -> tuple[int, Any]:
    """A request to the in-cluster MLflow's REST API through a port-forward, with one role's login from
    the flow runs' Secret (none: no login); a POST when there is a body. Its status and answer."""
    headers = {"Host": "127.0.0.1:5000", "Content-Type": "application/json"}  # one of the allowed hosts
    if role is not None:
        logins = secret(kubectl, "mlops-mlflow-logins")
        login = f"{logins[f'{role}-username']}:{logins[f'{role}-password']}"
        headers["Authorization"] = f"Basic {base64.b64encode(login.encode()).decode()}"
    data = None if body is None else json.dumps(body).encode()
    with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-mlflow", 5000) as port:
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/{path}"
        request = urllib.request.Request(url, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")


def mlflow_get(kubectl: Kubectl, path: str) -> Any:
    """A GET of the in-cluster MLflow's REST API as the reader, which must succeed."""
    status, answer = mlflow_call(kubectl, path)
    assert status == 200, answer
    return answer


def s3_client(kubectl: Kubectl, port: int, secret_name: str = "mlops-s3-credentials") -> Any:
    """A client of the in-cluster MinIO as one identity (by default the flow runs')."""
    return s3_at(port, secret(kubectl, secret_name))


def s3_at(port: int, credentials: dict[str, str]) -> Any:
    """A client of the MinIO port-forwarded to `port`, with the credentials' two AWS keys."""
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )


def prefect_api(kubectl: Kubectl, port: int, authenticated: bool = True) -> PrefectHttp:
    """The in-cluster Prefect API through a port-forward, as the operator with the release's credential."""
    auth = secret(kubectl, f"{RELEASE}-prefect-auth")["auth-string"] if authenticated else None
    return PrefectHttp(f"http://127.0.0.1:{port}/api", auth)


def install(helm: Helm, *values: str) -> None:
    """`helm install` of the chart, waited for: every workload ready, every hook Job done."""
    helm(
        "install",
        RELEASE,
        str(CHART),
        f"--namespace={NAMESPACE}",
        *values,
        "--wait",
        "--wait-for-jobs",
        "--timeout=15m",
        timeout=1000,
    )


@pytest.fixture(scope="module")
def platform(node: Node, helm: Helm, kubectl: Kubectl) -> Iterator[list[Json]]:
    """The chart installed with its hooks, waited for: every workload ready, the bucket Job done."""
    manifests = documents(helm("template", RELEASE, str(CHART), f"--namespace={NAMESPACE}", *SET))
    volumes = persistent_volumes(manifests, node.directory / "volumes")
    kubectl("apply", "--filename=-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": volumes}))
    started = time.monotonic()
    try:
        install(helm, "--create-namespace", *SET)
        TIMINGS["platform install"] = time.monotonic() - started
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
    with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-minio", 9000) as port:
        root = s3_client(kubectl, port, f"{RELEASE}-minio-root")
        buckets = {bucket["Name"] for bucket in root.list_buckets()["Buckets"]}
        versioned = {bucket: root.get_bucket_versioning(Bucket=bucket).get("Status") for bucket in buckets}
    assert buckets == {"mlops-data", "mlops-landing", "mlflow-artifacts", "mlops-backups"}
    assert versioned == {
        "mlops-data": "Enabled",
        "mlops-landing": None,
        "mlflow-artifacts": "Enabled",
        "mlops-backups": None,  # snapshots are kept by retention, each blob written once
    }


@pytest.mark.parametrize(
    ("identity", "bucket", "allowed"),
    [
        ("mlops-s3-credentials", "mlops-data", True),
        ("mlops-s3-credentials", "mlops-landing", False),
        ("mlops-s3-credentials", "mlflow-artifacts", False),
        (f"{RELEASE}-s3-operator", "mlops-landing", True),
        (f"{RELEASE}-s3-operator", "mlflow-artifacts", False),
        (f"{RELEASE}-s3-mlflow", "mlflow-artifacts", True),
        (f"{RELEASE}-s3-mlflow", "mlops-data", False),
    ],
)
def test_should_let_each_s3_identity_write_only_its_own_buckets(
    platform: list[Json], kubectl: Kubectl, identity: str, bucket: str, allowed: bool
) -> None:
    with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-minio", 9000) as port:
        s3 = s3_client(kubectl, port, identity)
        try:
            s3.put_object(Bucket=bucket, Key="e2e/identity-check", Body=b"x")
            outcome = "ok"
        except ClientError as error:
            outcome = error.response["Error"]["Code"]
    assert outcome == ("ok" if allowed else "AccessDenied")


def test_should_serve_mlflow_on_its_postgres_database(platform: list[Json], kubectl: Kubectl) -> None:
    experiments = mlflow_get(kubectl, "experiments/search?max_results=10")["experiments"]
    assert [e["name"] for e in experiments] == ["Default"]


def test_should_have_the_worker_polling_its_kubernetes_pool_on_the_in_cluster_server(
    platform: list[Json], kubectl: Kubectl
) -> None:
    with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-prefect-server", 4200) as port:
        api = prefect_api(kubectl, port)
        pool = api.get("work_pools/mlops-kubernetes")
        # A Ready pod is not yet a registered worker: the worker reports in with its first heartbeat, seconds
        # after its container starts (the chart gives it no readiness probe yet). Wait for that report.
        deadline = time.monotonic() + 120
        workers = api.post("work_pools/mlops-kubernetes/workers/filter", {})
        while not workers and time.monotonic() < deadline:
            time.sleep(1)
            workers = api.post("work_pools/mlops-kubernetes/workers/filter", {})
    assert pool["type"] == "kubernetes"
    assert [worker["status"] for worker in workers] == ["ONLINE"]


def test_should_refuse_the_in_cluster_prefect_api_to_a_caller_without_the_credential(
    platform: list[Json], kubectl: Kubectl
) -> None:
    with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-prefect-server", 4200) as port:
        anonymous, operator = prefect_api(kubectl, port, authenticated=False), prefect_api(kubectl, port)
        assert anonymous.status("GET", "health") == 200  # the kubelet's probes need no credential
        assert anonymous.status("GET", "work_pools/mlops-kubernetes") == 401
        assert anonymous.status("POST", "deployments/filter", {}) == 401
        no_csrf = PrefectHttp(operator.api_url, operator.auth_string, csrf=False)
        assert no_csrf.status("POST", "deployments/filter", {}) == 403
        assert operator.status("POST", "deployments/filter", {}) == 200


# --- NetworkPolicies enforced (kube-network-policies on the node), credentials refused ----------------------

PROBE = (Path(__file__).with_name("network_probe.py")).read_text()
OUTSIDER = "outsider"  # a namespace of no environment of the platform's
POOL_LABELS = {"prefect.io/work-pool-name": "mlops-kubernetes"}  # what the worker gives its flow-run pods


def probe_pod(name: str, namespace: str, labels: dict[str, str], env: list[Json]) -> Json:
    """A one-shot pod of the flow-runner image that runs tests/e2e/network_probe.py (restricted profile)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"e2e-probe": name, **labels}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "tolerations": [{"key": NODE_TAINT, "operator": "Exists", "effect": "NoSchedule"}],
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "probe",
                    "image": f"{FLOW_RUNNER['repository']}:{FLOW_RUNNER['tag']}",
                    # It waits for the test to exec the probe (run_probes), once the node admits it.
                    "command": ["python", "-c", "import time; time.sleep(600)"],
                    "env": env,
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "64Mi"},
                        "limits": {"memory": "256Mi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def from_secret(variable: str, secret_name: str, key: str) -> Json:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}


def is_peer(address: str, policies: int) -> bool:
    return sets_holding(address) >= policies


def run_probes(kubectl: Kubectl, pods: list[Json], peer_of: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Start every probe pod, and in each run tests/e2e/network_probe.py once it is running and, for a pod
    that `peer_of` names, once kube-router holds its address in that many policies' source sets: before
    that, the node refuses even an allowed peer's first connections."""
    kubectl("apply", "--filename=-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))
    outcomes = {}
    try:
        for pod in pods:
            name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
            where = f"--namespace={namespace}"
            kubectl("wait", f"pod/{name}", where, "--for=condition=Ready", "--timeout=100s")
            if name in peer_of:
                address = kubectl.get("pod", name, where)["status"]["podIP"]
                admitted = functools.partial(is_peer, address, peer_of[name])
                wait_until(admitted, f"{name} a peer of its policies", lambda: None, 60)
            log = run(kubectl.argv("exec", where, f"pod/{name}", "--", "python", "-c", PROBE), timeout=180)
            outcomes[name] = json.loads(log.strip().splitlines()[-1])
    finally:
        for pod in pods:
            kubectl.attempt(
                "delete",
                "pod",
                pod["metadata"]["name"],
                f"--namespace={pod['metadata']['namespace']}",
                "--grace-period=1",
            )
    return outcomes


@pytest.fixture(scope="module")
def probes(platform: list[Json], kubectl: Kubectl) -> dict[str, dict[str, Any]]:
    """Three pods try the platform's services: one of the release's namespace without the platform's labels,
    one of another namespace, and one labelled as a flow run of the pool (the allowed peer, holding the flow
    runs' credentials), which makes both the positive controls and the attempts a credential must refuse."""
    services = {
        s["metadata"]["name"].removeprefix(f"{RELEASE}-"): s["spec"]["clusterIP"]
        for s in kubectl.get("services", f"--namespace={NAMESPACE}")["items"]
    }
    [worker] = kubectl.get(
        "pods", f"--namespace={NAMESPACE}", "--selector=app.kubernetes.io/component=prefect-worker"
    )["items"]
    targets = {
        "postgres": f"{services['postgres']}:5432",
        "minio": f"{services['minio']}:9000",
        "mlflow": f"{services['mlflow']}:5000",
        "prefect": f"{services['prefect-server']}:4200",
        "worker": f"{worker['status']['podIP']}:8080",
    }
    reach_all = {name: {"tcp": address} for name, address in targets.items()}
    prefect = f"http://{targets['prefect']}/api"
    with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-prefect-server", 4200) as port:
        template = prefect_api(kubectl, port).get("work_pools/mlops-kubernetes")["base_job_template"]
    patch = {"base_job_template": template}  # the pool's own template: allowed, it changes nothing
    flow_run_attempts = {
        **{name: spec for name, spec in reach_all.items() if name != "worker"},
        "prefect without credential": {"http": ["GET", f"{prefect}/work_pools/mlops-kubernetes"]},
        "prefect with credential": {"http": ["GET", f"{prefect}/work_pools/mlops-kubernetes"], "auth": True},
        "pool patch without credential": {
            "http": ["PATCH", f"{prefect}/work_pools/mlops-kubernetes"],
            "body": patch,
        },
        "pool csrf token without credential": {"http": ["GET", f"{prefect}/csrf-token?client=probe"]},
        "pool patch with credential": {
            "http": ["PATCH", f"{prefect}/work_pools/mlops-kubernetes"],
            "body": patch,
            "auth": True,
            "csrf": True,
        },
        "s3 list data": {"s3": "list", "bucket": "mlops-data"},
        "s3 list artifacts": {"s3": "list", "bucket": "mlflow-artifacts"},
        "s3 read landing": {"s3": "list", "bucket": "mlops-landing"},
        "s3 write landing": {"s3": "put", "bucket": "mlops-landing"},
    }
    kubectl("create", "namespace", OUTSIDER)
    attempts = {"stranger": reach_all, "outsider": reach_all, "flow-run": flow_run_attempts}
    credentials = [
        from_secret("PREFECT_API_AUTH_STRING", f"{RELEASE}-prefect-auth", "auth-string"),
        from_secret("AWS_ACCESS_KEY_ID", "mlops-s3-credentials", "AWS_ACCESS_KEY_ID"),
        from_secret("AWS_SECRET_ACCESS_KEY", "mlops-s3-credentials", "AWS_SECRET_ACCESS_KEY"),
        {"name": "S3_ENDPOINT", "value": f"http://{targets['minio']}"},
    ]
    pods = [
        probe_pod(
            "stranger", NAMESPACE, {}, [{"name": "ATTEMPTS", "value": json.dumps(attempts["stranger"])}]
        ),
        probe_pod(
            "outsider", OUTSIDER, {}, [{"name": "ATTEMPTS", "value": json.dumps(attempts["outsider"])}]
        ),
        probe_pod(
            "flow-run",
            NAMESPACE,
            POOL_LABELS,
            [{"name": "ATTEMPTS", "value": json.dumps(attempts["flow-run"])}, *credentials],
        ),
    ]
    try:
        # The flow-run pod is a peer of three policies: the Prefect API's, MLflow's and MinIO's.
        outcomes = run_probes(kubectl, pods, peer_of={"flow-run": 3})
        # The pool after the refused patch and the allowed one is the pool before: nothing was changed.
        with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-prefect-server", 4200) as port:
            after = prefect_api(kubectl, port).get("work_pools/mlops-kubernetes")["base_job_template"]
        outcomes["pool"] = {"unchanged": after == template}
        # PostgreSQL's allowed peers are the Prefect server and MLflow: the positive control from the server.
        address = (f"{RELEASE}-postgres", 5432)
        connect = f"import socket; socket.create_connection({address!r}, timeout=4); print('connected')"
        control = kubectl(
            "exec",
            f"--namespace={NAMESPACE}",
            f"deploy/{RELEASE}-prefect-server",
            "--",
            "python",
            "-c",
            connect,
        )
        outcomes["prefect-server"] = {"postgres": control.strip()}
        worker_ready = [c["ready"] for c in worker["status"]["containerStatuses"]]
        outcomes["node"] = {"worker health": "connected" if all(worker_ready) else "not ready"}  # the probe's
        print(json.dumps(outcomes, indent=2))
        return outcomes
    finally:
        kubectl.attempt("delete", "namespace", OUTSIDER, "--wait=false")


REFUSED_BY_POLICY = [
    *[("stranger", target) for target in ("postgres", "minio", "mlflow", "prefect", "worker")],
    *[("outsider", target) for target in ("postgres", "minio", "mlflow", "prefect", "worker")],
    ("flow-run", "postgres"),
]
# Each refusal and, beside it, the same request as the identity that may make it.
REFUSED_BY_CREDENTIAL = [
    ("prefect without credential", 401, "prefect with credential", 200),
    ("pool csrf token without credential", 401, "pool patch with credential", 204),
    ("pool patch without credential", 403, "pool patch with credential", 204),  # no CSRF token without it
    ("s3 list artifacts", "AccessDenied", "s3 list data", "ok"),
    ("s3 write landing", "AccessDenied", "s3 read landing", "ok"),
]
ALLOWED_PEER = {"postgres": ("prefect-server", "postgres"), "worker": ("node", "worker health")}


@pytest.mark.parametrize(("pod", "target"), REFUSED_BY_POLICY)
def test_should_refuse_connections_the_network_policies_do_not_admit(
    probes: dict[str, dict[str, Any]], pod: str, target: str
) -> None:
    # kube-router rejects (an ICMP port-unreachable: ConnectionRefusedError) what no policy admits; other
    # enforcers drop it (a time-out). Either way no connection, while the service is listening:
    assert probes[pod][target] in ("ConnectionRefusedError", "timed out")
    allowed_pod, allowed_attempt = ALLOWED_PEER.get(target, ("flow-run", target))
    assert probes[allowed_pod][allowed_attempt] == "connected"  # the same service answers its own peers


@pytest.mark.parametrize(("refused", "refusal", "allowed", "success"), REFUSED_BY_CREDENTIAL)
def test_should_refuse_what_the_callers_credential_does_not_allow(
    probes: dict[str, dict[str, Any]], refused: str, refusal: object, allowed: str, success: object
) -> None:
    assert probes["flow-run"][refused] == refusal
    assert probes["flow-run"][allowed] == success
    assert probes["pool"]["unchanged"]


# --- the pipeline on batch 1, run as the cluster steps of docs/kubernetes.md say -----------------------


@dataclass(frozen=True)
class PipelineRun:
    flow_runs: list[Json]  # every flow run on the in-cluster Prefect server, with its deployment's name
    jobs: list[Json]  # every Job of the release's namespace
    summary: Json  # the pipeline's result, as it left it in the data bucket
    pipeline_task_runs: set[str]  # ids of the pipeline flow run's task runs (a subflow's parent is one)

    def flow_run(self, deployment: str) -> Json:
        [flow_run] = [run for run in self.flow_runs if run["deployment"] == deployment]
        return flow_run

    def job(self, deployment: str) -> Json:
        flow_run_id = self.flow_run(deployment)["id"]
        [job] = [j for j in self.jobs if j["metadata"]["labels"].get("prefect.io/flow-run-id") == flow_run_id]
        return job


def in_worker(kubectl: Kubectl, *argv: str, timeout: float = 300) -> str:
    """`kubectl exec deploy/<release>-prefect-worker -- ...`: the worker's pod has the flows' settings."""
    target = f"deploy/{RELEASE}-prefect-worker"
    return run(kubectl.argv("exec", f"--namespace={NAMESPACE}", target, "--", *argv), timeout=timeout)


def deploy_flows_cluster(kubectl: Kubectl) -> None:
    """`make deploy-flows-cluster` (docs/kubernetes.md), with this cluster's kubectl and kubeconfig."""
    env = {
        **os.environ,
        "KUBECONFIG": str(kubectl.kubeconfig),
        "PATH": f"{Path(kubectl.binary).parent}{os.pathsep}{os.environ['PATH']}",
    }
    argv = [
        "make",
        "--no-print-directory",
        "deploy-flows-cluster",
        f"NAMESPACE={NAMESPACE}",
        f"RELEASE={RELEASE}",
    ]
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr + result.stdout


@pytest.fixture(scope="module")
def pipeline(platform: list[Json], kubectl: Kubectl) -> Iterator[PipelineRun]:
    started = time.monotonic()
    try:
        in_worker(kubectl, "mlops", "generate", "--batches", "1", "--if-missing")
        deploy_flows_cluster(kubectl)
        deployed = time.monotonic()
        TIMINGS["pipeline data and deploy"] = deployed - started
        # --watch returns when the pipeline's flow run is final, and fails unless it completed.
        in_worker(
            kubectl,
            "prefect",
            "deployment",
            "run",
            PIPELINE,
            "--param=batch_number=1",
            "--watch",
            timeout=1800,
        )
        TIMINGS["pipeline batch 1"] = time.monotonic() - deployed
        with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-prefect-server", 4200) as port:
            api = prefect_api(kubectl, port)
            names = {
                deployment["id"]: deployment["name"] for deployment in api.post("deployments/filter", {})
            }
            flow_runs = [
                run | {"deployment": names[run["deployment_id"]]} for run in api.post("flow_runs/filter", {})
            ]
            [pipeline_run] = [run for run in flow_runs if run["deployment"] == "ml-pipeline"]
            of_pipeline = {"flow_runs": {"id": {"any_": [pipeline_run["id"]]}}}
            task_runs = {task_run["id"] for task_run in api.post("task_runs/filter", of_pipeline)}
        with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-minio", 9000) as port:
            key = f"stage-results/{pipeline_run['id']}.json"
            summary = json.load(s3_client(kubectl, port).get_object(Bucket="mlops-data", Key=key)["Body"])
        # A flow run is final a moment before its process exits and Kubernetes counts its Job complete.
        kubectl(
            "wait",
            "job",
            "--for=condition=Complete",
            "--selector=prefect.io/flow-run-id",
            f"--namespace={NAMESPACE}",
            "--timeout=60s",
        )
        jobs = kubectl.get("jobs", f"--namespace={NAMESPACE}")["items"]
        yield PipelineRun(flow_runs, jobs, summary, task_runs)
    except Exception:
        # The flow runs' own words, before the node's teardown deletes their pods and logs.
        for job in kubectl.get("jobs", f"--namespace={NAMESPACE}", "--selector=prefect.io/flow-run-id")[
            "items"
        ]:
            name = job["metadata"]["name"]
            log = kubectl.attempt("logs", f"--namespace={NAMESPACE}", f"job/{name}", "--tail=60")
            print(f"--- log of job {name}:\n{log.stdout}{log.stderr}")
        raise
    finally:
        listing = kubectl("get", "jobs,pods", f"--namespace={NAMESPACE}", "--output=wide")
        print(f"jobs and pods of the release:\n{listing}")


def test_should_run_every_stage_of_the_pipeline_as_its_own_completed_flow_run(pipeline: PipelineRun) -> None:
    states = {run["deployment"]: run["state_type"] for run in pipeline.flow_runs}
    assert len(pipeline.flow_runs) == len(states), "a deployment ran twice"
    assert states == dict.fromkeys(("ml-pipeline", *STAGES), "COMPLETED")
    # Each stage was launched by the pipeline's flow run (a subflow of it), not on its own.
    assert all(
        pipeline.flow_run(stage)["parent_task_run_id"] in pipeline.pipeline_task_runs for stage in STAGES
    )
    assert pipeline.summary["batch_number"] == 1 and not pipeline.summary["reused"]


def test_should_run_each_stage_in_a_job_of_its_own_on_the_node(
    pipeline: PipelineRun, kubectl: Kubectl
) -> None:
    pods = kubectl.get("pods", f"--namespace={NAMESPACE}")["items"]
    for stage in STAGES:
        job = pipeline.job(stage)
        assert job["status"].get("succeeded") == 1, job["status"]
        [pod] = [p for p in pods if p["metadata"]["labels"].get("job-name") == job["metadata"]["name"]]
        assert pod["spec"]["nodeName"] and pod["status"]["phase"] == "Succeeded"
        # The stage reported the host it ran on: its Job's pod, not the worker's.
        host, _pid = pipeline.summary["stage_processes"][stage].split(":")
        assert host == pod["metadata"]["name"], stage
        assert pod["spec"]["containers"][0]["image"] == f"{FLOW_RUNNER['repository']}:{FLOW_RUNNER['tag']}"


def test_should_pull_the_batch_by_hash_from_the_in_cluster_minio(
    pipeline: PipelineRun, kubectl: Kubectl
) -> None:
    raw_md5, dataset_md5 = pipeline.summary["raw_md5"], pipeline.summary["dataset_md5"]
    with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-minio", 9000) as port:
        s3 = s3_client(kubectl, port)
        for md5 in (raw_md5, dataset_md5):  # DVC's remote keeps each file under its hash
            s3.head_object(Bucket="mlops-data", Key=f"dvc/files/md5/{md5[:2]}/{md5[2:]}")

    def log(stage: str) -> str:
        return kubectl("logs", f"--namespace={NAMESPACE}", f"job/{pipeline.job(stage)['metadata']['name']}")

    assert f"by md5 {raw_md5}" in log("prepare")
    assert f"by md5 {dataset_md5}" in log("train")


def test_should_register_the_model_in_the_in_cluster_mlflow(pipeline: PipelineRun, kubectl: Kubectl) -> None:
    model = mlflow_get(kubectl, "registered-models/get?name=loan-default-xgb")["registered_model"]
    assert [v["version"] for v in model["latest_versions"]] == [pipeline.summary["model_version"]] == ["1"]
    assert {a["alias"]: a["version"] for a in model["aliases"]} == {"champion": "1"}
    assert pipeline.summary["is_champion"]


def test_should_refuse_mlflow_without_a_login_and_the_champion_to_any_login_but_the_registrars(
    pipeline: PipelineRun, kubectl: Kubectl
) -> None:
    status, _ = mlflow_call(kubectl, "experiments/search?max_results=1", role=None)
    assert status == 401
    move = {"name": "loan-default-xgb", "alias": "champion", "version": "1"}  # where it is: no change
    for role in ("reader", "trainer"):  # scoring's login, and training's
        status, answer = mlflow_call(kubectl, "registered-models/alias", role, move)
        assert status == 403, (role, answer)
    status, answer = mlflow_call(kubectl, "registered-models/alias", "registrar", move)
    assert status == 200, answer
    champion = mlflow_get(kubectl, "registered-models/alias?name=loan-default-xgb&alias=champion")
    assert champion["model_version"]["version"] == "1"


def test_should_say_how_the_pipeline_ended_with_mlops_status_in_the_worker(
    pipeline: PipelineRun, kubectl: Kubectl
) -> None:
    """The step after `--watch` (docs/kubernetes.md): the latest pipeline run's result, from the stores."""
    out = in_worker(kubectl, "mlops", "status")
    assert ": Completed" in out, out
    rows = pipeline.summary["rows"]
    assert f"loan-default batch 1: {rows} rows, model version 1, holdout roc_auc" in out, out


# --- an upgrade of the release after training ----------------------------------------------------------


@dataclass(frozen=True)
class Kept:
    """What a release holds that an upgrade must keep, and the pods it ran on."""

    pods: dict[str, str]  # component -> pod uid, of every Deployment's and StatefulSet's pod
    flow_runs: dict[str, str]  # flow run id -> state type
    model: Json  # the registered model: its versions (with their runs) and aliases
    run_metrics: dict[str, list[Json]]  # the champion's run -> its metrics
    objects: dict[str, dict[str, str]]  # bucket -> key -> ETag, every object of every bucket
    secrets: dict[str, dict[str, str]]  # every generated credential, by Secret


def kept(kubectl: Kubectl) -> Kept:
    pods = {
        pod["metadata"]["labels"]["app.kubernetes.io/component"]: pod["metadata"]["uid"]
        for pod in kubectl.get("pods", f"--namespace={NAMESPACE}")["items"]
        if "job-name" not in pod["metadata"]["labels"]
        and pod["status"]["phase"] == "Running"
        and "deletionTimestamp" not in pod["metadata"]  # an old pod of a rollout, terminating
    }
    with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-prefect-server", 4200) as port:
        flow_runs = {
            run["id"]: run["state_type"] for run in prefect_api(kubectl, port).post("flow_runs/filter", {})
        }
    model = mlflow_get(kubectl, "registered-models/get?name=loan-default-xgb")["registered_model"]
    champion = mlflow_get(kubectl, "registered-models/alias?name=loan-default-xgb&alias=champion")
    run_id = champion["model_version"]["run_id"]
    metrics = mlflow_get(kubectl, f"runs/get?run_id={run_id}")["run"]["data"]["metrics"]
    with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-minio", 9000) as port:
        root = s3_client(kubectl, port, f"{RELEASE}-minio-root")
        objects = {
            bucket["Name"]: {
                item["Key"]: item["ETag"]
                for page in root.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"])
                for item in page.get("Contents", [])
            }
            for bucket in root.list_buckets()["Buckets"]
        }
    secrets = {
        item["metadata"]["name"]: item["data"]
        for item in kubectl.get("secrets", f"--namespace={NAMESPACE}")["items"]
        if item["type"] == "Opaque"
    }
    return Kept(pods, flow_runs, model, {run_id: metrics}, objects, secrets)


def test_should_keep_every_run_version_object_and_credential_across_an_upgrade(
    platform: list[Json], pipeline: PipelineRun, offsite: None, helm: Helm, kubectl: Kubectl
) -> None:
    workloads = {
        m["metadata"]["labels"]["app.kubernetes.io/component"]
        for m in platform
        if m["kind"] in ("Deployment", "StatefulSet")
    }
    before = kept(kubectl)
    started = time.monotonic()
    helm(
        "upgrade",
        RELEASE,
        str(CHART),
        f"--namespace={NAMESPACE}",
        *SET,
        *RESIZED,
        *BACKUP_TO_OFFSITE,  # the operator also points the backups off-site (the test below uses them)
        "--wait",
        "--wait-for-jobs",
        "--timeout=10m",
        timeout=700,
    )
    TIMINGS["platform upgrade"] = time.monotonic() - started
    after = kept(kubectl)
    # Every workload rolled (new pods), so what follows was kept by its volume and database, not its process.
    assert after.pods.keys() == before.pods.keys() == workloads
    assert all(after.pods[component] != uid for component, uid in before.pods.items())
    assert after.flow_runs == before.flow_runs and len(before.flow_runs) == 1 + len(STAGES)
    assert after.model == before.model
    assert after.run_metrics == before.run_metrics
    assert after.objects == before.objects
    assert after.secrets == before.secrets
    # The identities the bucket Job set again still read what they wrote before.
    with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-minio", 9000) as port:
        md5 = pipeline.summary["dataset_md5"]
        s3_client(kubectl, port).head_object(Bucket="mlops-data", Key=f"dvc/files/md5/{md5[:2]}/{md5[2:]}")


# --- backups: the release's volumes lost, a new install restored from the off-site snapshot --------------


@pytest.fixture(scope="module")
def offsite(platform: list[Json], kubectl: Kubectl) -> None:
    """A second MinIO (the chart's image) in a namespace of its own with a bucket for the snapshots, and the
    Secret of its credentials in the release's namespace, as an operator gives `backup.destination`."""
    user, password = f"offsite-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    minio = yaml.safe_load((CHART / "values.yaml").read_text())["images"]["minio"]
    labels = {"app": f"{OFFSITE}-minio"}
    restricted = {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    credentials = {"AWS_ACCESS_KEY_ID": user, "AWS_SECRET_ACCESS_KEY": password}
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OFFSITE}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{OFFSITE}-backups", "namespace": NAMESPACE},
            "stringData": credentials,
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "root", "namespace": OFFSITE},
            "stringData": {"MINIO_ROOT_USER": user, "MINIO_ROOT_PASSWORD": password},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{OFFSITE}-minio", "namespace": OFFSITE, "labels": labels},
            "spec": {
                "tolerations": [{"key": NODE_TAINT, "operator": "Exists", "effect": "NoSchedule"}],
                "containers": [
                    {
                        "name": "minio",
                        "image": f"{minio['repository']}:{minio['tag']}",
                        "imagePullPolicy": "IfNotPresent",
                        "args": ["server", "/data", "--address", ":9000"],
                        "envFrom": [{"secretRef": {"name": "root"}}],
                        "readinessProbe": {"httpGet": {"path": "/minio/health/ready", "port": 9000}},
                        "securityContext": restricted,
                        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    }
                ],
                "volumes": [{"name": "data", "emptyDir": {}}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{OFFSITE}-minio", "namespace": OFFSITE},
            "spec": {"selector": labels, "ports": [{"port": 9000, "targetPort": 9000}]},
        },
    ]
    kubectl("apply", "--filename=-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    kubectl(
        "wait", "pod", f"{OFFSITE}-minio", f"--namespace={OFFSITE}", "--for=condition=Ready", "--timeout=100s"
    )
    with port_forward(kubectl, OFFSITE, f"service/{OFFSITE}-minio", 9000) as port:
        s3_at(port, credentials).create_bucket(Bucket=OFFSITE_BUCKET)


def lose_the_release(
    platform: list[Json], node: Node, helm: Helm, kubectl: Kubectl, volumes_dir: str
) -> None:
    """The release uninstalled and its claims and volumes deleted; new empty volumes ready for the next
    install. Its kept Secrets (the generated credentials) stay."""
    helm("uninstall", RELEASE, f"--namespace={NAMESPACE}", "--wait", timeout=600)
    kubectl("delete", "pvc", "--all", f"--namespace={NAMESPACE}", "--timeout=100s")
    claimed = [
        volume["metadata"]["name"]
        for volume in kubectl.get("pv")["items"]
        if volume["spec"].get("claimRef", {}).get("namespace") == NAMESPACE
    ]
    kubectl("delete", "pv", *claimed, "--timeout=100s")
    volumes = persistent_volumes(platform, node.directory / volumes_dir)
    kubectl("apply", "--filename=-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": volumes}))


def job_from_cronjob(kubectl: Kubectl, cronjob: str, name: str, timeout: int = 600) -> str:
    """`kubectl create job --from=cronjob/...` (README, "Backups and restore"), waited for; its log."""
    kubectl("create", "job", f"--from=cronjob/{RELEASE}-{cronjob}", name, f"--namespace={NAMESPACE}")
    wait = [
        "wait",
        "job",
        name,
        "--for=condition=Complete",
        f"--namespace={NAMESPACE}",
        f"--timeout={timeout}s",
    ]
    done = subprocess.run(
        kubectl.argv(*wait), capture_output=True, text=True, timeout=timeout + 30, check=False
    )
    log = kubectl.attempt("logs", f"job/{name}", "--all-containers", "--prefix", f"--namespace={NAMESPACE}")
    assert done.returncode == 0, f"job {name} did not complete:\n{log.stdout}{log.stderr}"
    return log.stdout


def test_should_bring_back_the_champion_its_lineage_artifacts_and_data_from_a_backup_into_a_new_install(
    platform: list[Json], pipeline: PipelineRun, offsite: None, node: Node, helm: Helm, kubectl: Kubectl
) -> None:
    cronjob = kubectl.get("cronjob", f"{RELEASE}-backup", f"--namespace={NAMESPACE}")
    [upload] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    if {"name": "BACKUP_URL", "value": f"s3://{OFFSITE_BUCKET}/{RELEASE}"} not in upload["env"]:
        # Run alone, without the upgrade test before it (which points the backups off-site).
        helm("upgrade", RELEASE, str(CHART), f"--namespace={NAMESPACE}", "--reuse-values", *BACKUP_TO_OFFSITE)
    started = time.monotonic()
    backed_up = job_from_cronjob(kubectl, "backup", "backup-1")
    assert "prefect: dumped and verified" in backed_up and "mlflow: dumped and verified" in backed_up, (
        backed_up
    )
    assert f"at s3://{OFFSITE_BUCKET}/{RELEASE}" in backed_up, backed_up
    TIMINGS["backup"] = time.monotonic() - started
    before = kept(kubectl)

    # The release and its volumes are gone; its kept Secrets stay (the backup holds no credential).
    lose_the_release(platform, node, helm, kubectl, "volumes-after-the-loss")
    reinstalled = time.monotonic()
    values = [*SET, *RESIZED, *BACKUP_TO_OFFSITE]
    install(helm, *values)
    TIMINGS["reinstall"] = time.monotonic() - reinstalled
    assert mlflow_call(kubectl, "registered-models/get?name=loan-default-xgb")[0] == 404  # empty, as new

    # The restore, as the README says: stop the databases' clients, restore, start them again.
    restoring = time.monotonic()
    clients = [f"deployment/{RELEASE}-{c}" for c in ("prefect-server", "mlflow", "prefect-worker")]
    kubectl("scale", *clients, "--replicas=0", f"--namespace={NAMESPACE}")
    selector = "app.kubernetes.io/component in (prefect-server,mlflow,prefect-worker)"
    wait_until(
        lambda: not kubectl.get("pods", f"--namespace={NAMESPACE}", f"--selector={selector}")["items"],
        "the databases' clients stopped",
        lambda: None,
        180,
    )
    restored = job_from_cronjob(kubectl, "restore", "restore-1")
    assert "prefect: restored" in restored and "mlflow: restored" in restored, restored
    kubectl("scale", *clients, "--replicas=1", f"--namespace={NAMESPACE}")
    for client in clients:
        run(
            kubectl.argv("rollout", "status", client, f"--namespace={NAMESPACE}", "--timeout=600s"),
            timeout=630,
        )
    TIMINGS["restore"] = time.monotonic() - restoring

    after = kept(kubectl)
    assert after.flow_runs == before.flow_runs
    assert after.model == before.model  # its versions, their runs and tags, the champion alias
    assert after.run_metrics == before.run_metrics
    for bucket in ("mlops-landing", "mlops-data", "mlflow-artifacts"):
        assert after.objects[bucket].keys() == before.objects[bucket].keys(), bucket
        for key, etag in before.objects[bucket].items():  # a one-part upload's ETag is its MD5
            assert "-" in etag or after.objects[bucket][key] == etag, (bucket, key)
    champion = mlflow_get(kubectl, "registered-models/alias?name=loan-default-xgb&alias=champion")
    lineage = {tag["key"]: tag["value"] for tag in champion["model_version"]["tags"]}
    assert lineage["lineage.dataset_md5"] == pipeline.summary["dataset_md5"]
    with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-minio", 9000) as port:
        s3 = s3_client(kubectl, port)
        for md5 in (pipeline.summary["raw_md5"], pipeline.summary["dataset_md5"]):  # what `dvc pull` checks
            body = s3.get_object(Bucket="mlops-data", Key=f"dvc/files/md5/{md5[:2]}/{md5[2:]}")["Body"].read()
            assert hashlib.md5(body).hexdigest() == md5.removesuffix(".dir")  # the dataset's: its manifest

    # Batch 2 trains on top of what came back.
    in_worker(kubectl, "mlops", "generate", "--batches", "2", "--if-missing")
    second = time.monotonic()
    in_worker(
        kubectl, "prefect", "deployment", "run", PIPELINE, "--param=batch_number=2", "--watch", timeout=1800
    )
    TIMINGS["pipeline batch 2 after the restore"] = time.monotonic() - second
    version = mlflow_get(kubectl, "model-versions/get?name=loan-default-xgb&version=2")["model_version"]
    tags = {tag["key"]: tag["value"] for tag in version.get("tags", [])}
    assert tags["lineage.batch_number"] == "2" and tags["gate.decision"] in ("promote", "keep"), tags


# --- the dask engine: a new install with the chart's Dask cluster trains batch 1 through it ---------------

# Two workers beside the platform on the node's 2 CPUs: the scheduler and the workers ask for little and
# may use a CPU each (their limits), the train Job's own CPU stays free.
DASK = [
    "--set=dask.enabled=true",
    "--set=dask.workers=2",
    "--set=dask.scheduler.resources.requests.cpu=50m",
    "--set=dask.worker.resources.requests.cpu=50m",
]


def test_should_train_batch_1_through_the_charts_dask_cluster_and_make_it_the_champion(
    platform: list[Json], node: Node, helm: Helm, kubectl: Kubectl
) -> None:
    lose_the_release(platform, node, helm, kubectl, "volumes-for-dask")
    started = time.monotonic()
    install(helm, *SET, *DASK)
    TIMINGS["install with dask"] = time.monotonic() - started
    pods = kubectl.get("pods", f"--namespace={NAMESPACE}", "--selector=app.kubernetes.io/component")["items"]
    running = [
        pod["metadata"]["labels"]["app.kubernetes.io/component"]
        for pod in pods
        if pod["status"]["phase"] == "Running"
    ]
    assert running.count("dask-scheduler") == 1 and running.count("dask-worker") == 2, running

    in_worker(kubectl, "mlops", "generate", "--batches", "1", "--if-missing")
    deploy_flows_cluster(kubectl)
    trained = time.monotonic()
    in_worker(
        kubectl, "prefect", "deployment", "run", PIPELINE, "--param=batch_number=1", "--watch", timeout=1800
    )
    TIMINGS["pipeline batch 1 on dask"] = time.monotonic() - trained

    # The train Job's log shows the cluster: the workers it waited for and the partitions they trained on.
    with port_forward(kubectl, NAMESPACE, f"service/{RELEASE}-prefect-server", 4200) as port:
        api = prefect_api(kubectl, port)
        [train] = [d["id"] for d in api.post("deployments/filter", {}) if d["name"] == "train"]
        [run_id] = [r["id"] for r in api.post("flow_runs/filter", {}) if r["deployment_id"] == train]
    selector = f"--selector=prefect.io/flow-run-id={run_id}"
    [job] = kubectl.get("jobs", f"--namespace={NAMESPACE}", selector)["items"]
    train_log = kubectl(
        "logs", f"job/{job['metadata']['name']}", f"--namespace={NAMESPACE}", "--all-containers"
    )
    assert f"dask cluster tcp://{RELEASE}-dask-scheduler:8786: 2 workers" in train_log, train_log[-3000:]
    partitions = re.search(r"trained on (\d+) partitions", train_log)
    assert partitions is not None and int(partitions[1]) >= 2, train_log[-3000:]
    champion = mlflow_get(kubectl, "registered-models/alias?name=loan-default-xgb&alias=champion")
    version = champion["model_version"]
    tags = {tag["key"]: tag["value"] for tag in version["tags"]}
    assert version["version"] == "1"
    assert tags["lineage.train_engine"] == "dask" and tags["lineage.train_workers"] == "2", tags
    assert tags["gate.decision"] == "promote", tags
