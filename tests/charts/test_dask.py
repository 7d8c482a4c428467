"""Should deploy a Dask cluster for the dask train engine only when asked: a scheduler and its Service,
workers running the flow-runner image with the flow runs' S3 identity from a Secret, the flow runs' settings
pointing at it, and NetworkPolicies that let only the flow runs reach the scheduler and only Dask pods reach
each other."""

from __future__ import annotations

from tests.charts.chart import Json, Rendered, containers, pod_spec, render
from tests.charts.test_network_policies import FLOW_RUNS, component_of

DASK = ("dask-values.yaml",)
RELEASE = "mlops-platform"


def workload(chart: Rendered, component: str) -> Json:
    [found] = [w for w in chart.workloads() if component_of(w["metadata"]["labels"]) == component]
    return found


def settings(chart: Rendered) -> dict[str, str]:
    data: dict[str, str] = chart.get("ConfigMap", "mlops-settings")["data"]
    return data


def policy(chart: Rendered, component: str) -> Json:
    [found] = [
        p for p in chart.of_kind("NetworkPolicy") if component_of(p["metadata"]["labels"]) == component
    ]
    return found


def selector(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "mlops-platform",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": component,
    }


def test_should_render_no_dask_object_and_train_locally_by_default(default_chart: Rendered) -> None:
    names = {o["metadata"]["name"] for o in default_chart.objects}
    assert not [n for n in names if "dask" in n]
    assert not {"MLOPS_TRAIN_ENGINE", "MLOPS_DASK_ADDRESS"} & set(settings(default_chart))


def test_should_point_the_flow_runs_at_the_scheduler_and_wait_for_every_worker(helm: str) -> None:
    chart = render(helm, DASK)
    service = chart.get("Service", f"{RELEASE}-dask-scheduler")
    [port] = service["spec"]["ports"]
    assert service["spec"]["selector"] == selector("dask-scheduler")
    assert settings(chart)["MLOPS_TRAIN_ENGINE"] == "dask"
    assert settings(chart)["MLOPS_DASK_ADDRESS"] == f"tcp://{RELEASE}-dask-scheduler:{port['port']}"
    assert (
        settings(chart)["MLOPS_DASK_WORKERS"]
        == "3"
        == str(workload(chart, "dask-worker")["spec"]["replicas"])
    )


def test_should_run_the_cluster_in_the_flow_runner_image_the_train_jobs_use(helm: str) -> None:
    chart = render(helm, DASK)
    worker = chart.get("Deployment", f"{RELEASE}-prefect-worker")
    image = next(containers(worker))["image"]
    scheduler = next(containers(workload(chart, "dask-scheduler")))
    dask_worker = next(containers(workload(chart, "dask-worker")))
    assert scheduler["image"] == dask_worker["image"] == image
    assert scheduler["command"][:2] == ["dask", "scheduler"]
    command = dask_worker["command"]
    assert command[:3] == ["dask", "worker", settings(chart)["MLOPS_DASK_ADDRESS"]]
    assert command[command.index("--nthreads") + 1] == "2"


def test_should_give_the_workers_the_flow_runs_s3_identity_only_by_secret_reference(helm: str) -> None:
    chart = render(helm, DASK)
    env = {e["name"]: e for e in next(containers(workload(chart, "dask-worker")))["env"]}
    flow_runs_secret = "mlops-s3-credentials"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert "value" not in env[name]
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": flow_runs_secret, "key": name}
    assert not any(
        "AWS" in e["name"] for e in next(containers(workload(chart, "dask-scheduler"))).get("env", [])
    )


def test_should_place_the_dask_pods_where_the_values_say(helm: str) -> None:
    chart = render(helm, DASK)
    for component in ("dask-scheduler", "dask-worker"):
        spec = pod_spec(workload(chart, component))
        assert spec["nodeSelector"] == {"mlops.example.com/pool": "dask"}
        assert spec["tolerations"][0]["key"] == "mlops.example.com/dask"
        assert spec["automountServiceAccountToken"] is False
    fallback = render(helm, set_values={"dask.enabled": "true", "nodeSelector.disk": "ssd"})
    assert pod_spec(workload(fallback, "dask-worker"))["nodeSelector"] == {"disk": "ssd"}


def test_should_let_only_flow_runs_reach_the_scheduler_and_only_dask_pods_reach_each_other(helm: str) -> None:
    chart = render(helm, DASK)
    scheduler_port = chart.get("Service", f"{RELEASE}-dask-scheduler")["spec"]["ports"][0]["port"]
    to_scheduler, among_dask = policy(chart, "dask-scheduler")["spec"]["ingress"]
    assert to_scheduler["from"] == [{"podSelector": {"matchLabels": FLOW_RUNS}}]
    assert to_scheduler["ports"] == [{"protocol": "TCP", "port": scheduler_port}]
    assert among_dask == {"from": [{"podSelector": {"matchLabels": selector("dask-worker")}}]}
    [to_workers] = policy(chart, "dask-worker")["spec"]["ingress"]
    assert to_workers == {
        "from": [
            {"podSelector": {"matchLabels": selector("dask-scheduler")}},
            {"podSelector": {"matchLabels": selector("dask-worker")}},
        ]
    }
    minio_peers = [
        p["podSelector"]["matchLabels"] for p in policy(chart, "minio")["spec"]["ingress"][0]["from"]
    ]
    assert selector("dask-worker") in minio_peers and selector("dask-scheduler") not in minio_peers
