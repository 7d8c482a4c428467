"""Should let only the platform's own pods reach MinIO's S3 API, PostgreSQL, the Prefect API and MLflow (and,
for a shared registry, the environments' namespaces), unless switched off."""

from __future__ import annotations

import pytest

from tests.charts.chart import Json, Rendered, pod_spec, pod_template, render
from tests.contract.test_stage_jobs import DEPLOYMENT_NAMES, stage_job

SELECTOR = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component")
GUARDED = ("minio", "postgres", "prefect-server", "mlflow")
FLOW_RUNS = {"prefect.io/work-pool-name": "mlops-kubernetes"}
LOGINS_JOB = {
    "app.kubernetes.io/name": "mlops-platform",
    "app.kubernetes.io/instance": "mlops-platform",
    "app.kubernetes.io/component": "mlflow-logins",
}


def component_of(labels: dict[str, str]) -> str:
    return labels.get("app.kubernetes.io/component", "")


def policy(chart: Rendered, component: str) -> Json:
    matches = [
        p for p in chart.of_kind("NetworkPolicy") if component_of(p["metadata"]["labels"]) == component
    ]
    assert len(matches) == 1, f"NetworkPolicy of {component}: {len(matches)}"
    return matches[0]


def pod_labels(chart: Rendered) -> dict[str, dict[str, str]]:
    """The labels of each workload's pods, by component."""
    return {
        component_of(pod_template(w)["metadata"]["labels"]): pod_template(w)["metadata"]["labels"]
        for w in chart.workloads()
    }


def selects(match_labels: dict[str, str], labels: dict[str, str]) -> bool:
    return match_labels.items() <= labels.items()


def allowed_peers(network_policy: Json) -> list[dict[str, str]]:
    [rule] = network_policy["spec"]["ingress"]
    assert all(set(peer) == {"podSelector"} for peer in rule["from"]), "peers outside the namespace"
    return [peer["podSelector"]["matchLabels"] for peer in rule["from"]]


def allowed_peers_anywhere(network_policy: Json) -> list[Json]:
    """The peers of a policy's rule, other namespaces' too; none for a policy that admits nothing."""
    rules = network_policy["spec"]["ingress"]
    return [peer for rule in rules for peer in rule["from"]]


def allowed_ports(network_policy: Json) -> list[Json]:
    [rule] = network_policy["spec"]["ingress"]
    ports: list[Json] = rule["ports"]
    return ports


@pytest.mark.parametrize("component", GUARDED)
def test_should_restrict_ingress_of_the_stores_and_apis_to_their_own_pods(
    default_chart: Rendered, component: str
) -> None:
    network_policy = policy(default_chart, component)
    assert network_policy["spec"]["policyTypes"] == ["Ingress"]
    selector = network_policy["spec"]["podSelector"]["matchLabels"]
    assert set(selector) == set(SELECTOR)
    selected = [c for c, labels in pod_labels(default_chart).items() if selects(selector, labels)]
    assert selected == [component]


def test_should_let_only_the_prefect_server_mlflow_and_the_backup_jobs_reach_postgres(
    default_chart: Rendered,
) -> None:
    network_policy = policy(default_chart, "postgres")
    labels = pod_labels(default_chart)
    reaching = {
        c for c, pod in labels.items() for peer in allowed_peers(network_policy) if selects(peer, pod)
    }
    assert reaching == {"prefect-server", "mlflow", "backup", "restore"}
    assert allowed_ports(network_policy) == [{"protocol": "TCP", "port": 5432}]


def test_should_let_only_platform_pods_and_flow_runs_reach_the_minio_api(default_chart: Rendered) -> None:
    network_policy = policy(default_chart, "minio")
    labels = pod_labels(default_chart)
    peers = allowed_peers(network_policy)
    reaching = {c for c, pod in labels.items() for peer in peers if selects(peer, pod)}
    assert reaching == {"mlflow", "prefect-worker", "minio-buckets", "backup", "restore"}
    assert allowed_ports(network_policy) == [{"protocol": "TCP", "port": 9000}]  # not the console
    # Every peer selects pods the release runs: a typo would silently cut a client off.
    for peer in peers:
        assert any(selects(peer, pod) for pod in labels.values()) or peer == {
            "prefect.io/work-pool-name": "mlops-kubernetes"
        }, peer


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_should_let_the_flow_run_pods_the_worker_creates_reach_minio(
    default_chart: Rendered, deployment: str
) -> None:
    """The Job each deployment gets from prefect-kubernetes' own code (tests/contract) is labelled with its
    pool; the policy's peer must select that pod, and only because of the pool the values name."""
    pod = stage_job(deployment).manifest["spec"]["template"]["metadata"]["labels"]
    peers = allowed_peers(policy(default_chart, "minio"))
    assert [peer for peer in peers if selects(peer, pod)] == [
        {"prefect.io/work-pool-name": "mlops-kubernetes"}
    ]
    other_pool = {**pod, "prefect.io/work-pool-name": "someone-elses-pool"}
    assert not any(selects(peer, other_pool) for peer in peers)


def test_should_follow_the_worker_pool_and_the_release_name(helm: str) -> None:
    chart = render(helm, set_values={"worker.pool": "gpu-pool"}, release="other")
    peers = allowed_peers(policy(chart, "minio"))
    assert {"prefect.io/work-pool-name": "gpu-pool"} in peers
    assert all(peer.get("app.kubernetes.io/instance", "other") == "other" for peer in peers)
    assert (
        policy(chart, "minio")["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "other"
    )


def test_should_render_no_policy_when_switched_off(helm: str) -> None:
    assert render(helm, set_values={"networkPolicy.enabled": "false"}).of_kind("NetworkPolicy") == []


def test_should_render_a_policy_only_for_the_stores_the_release_runs(ci_chart: Rendered) -> None:
    stores = {c for c in pod_labels(ci_chart) if c in GUARDED}
    guarded = {component_of(p["metadata"]["labels"]) for p in ci_chart.of_kind("NetworkPolicy")} & set(
        GUARDED
    )
    assert guarded == stores
    for component in stores:
        peers = [
            p for p in allowed_peers_anywhere(policy(ci_chart, component)) if "namespaceSelector" not in p
        ]
        peers = [p["podSelector"]["matchLabels"] for p in peers if "matchLabels" in p["podSelector"]]
        clients = {c for c, pod in pod_labels(ci_chart).items() for peer in peers if selects(peer, pod)}
        platform = {"prefect-server", "mlflow", "prefect-worker", "minio-buckets", "mlflow-logins"}
        assert clients <= platform | {"backup", "restore", "dask-worker"}, clients
        if "dask-worker" in clients:  # the Dask workers read datasets from MinIO, and reach nothing else
            assert component == "minio"


def test_should_select_every_pod_of_the_release_with_a_policy(ci_chart: Rendered) -> None:
    """No pod is left open by omission: those that serve nothing get a policy that admits nothing."""
    selectors = [p["spec"]["podSelector"]["matchLabels"] for p in ci_chart.of_kind("NetworkPolicy")]
    for component, labels in pod_labels(ci_chart).items():
        assert any(selects(selector, labels) for selector in selectors), component


SERVING_NOTHING = ["prefect-worker", "minio-buckets", "mlflow-logins", "backup", "restore"]


@pytest.mark.parametrize("component", SERVING_NOTHING)
def test_should_admit_nothing_to_the_pods_that_serve_nothing(default_chart: Rendered, component: str) -> None:
    network_policy = policy(default_chart, component)
    assert network_policy["spec"]["policyTypes"] == ["Ingress"]
    assert network_policy["spec"]["ingress"] == []
    selector = network_policy["spec"]["podSelector"]["matchLabels"]
    assert [c for c, labels in pod_labels(default_chart).items() if selects(selector, labels)] == [component]


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_should_admit_nothing_to_the_flow_run_pods_of_the_pool(
    default_chart: Rendered, deployment: str
) -> None:
    network_policy = policy(default_chart, "flow-run")
    assert network_policy["spec"]["ingress"] == []
    pod_metadata = stage_job(deployment).manifest["spec"]["template"]["metadata"]
    assert selects(network_policy["spec"]["podSelector"]["matchLabels"], pod_metadata["labels"])
    assert not any(
        selects(network_policy["spec"]["podSelector"]["matchLabels"], p)
        for p in pod_labels(default_chart).values()
    )


def test_should_keep_pod_specs_free_of_host_networking_that_would_bypass_the_policies(
    ci_chart: Rendered,
) -> None:
    for workload in ci_chart.workloads():
        assert not pod_spec(workload).get("hostNetwork"), workload["metadata"]["name"]


@pytest.mark.parametrize(("component", "port"), [("prefect-server", 4200), ("mlflow", 5000)])
def test_should_let_only_the_worker_and_its_flow_runs_reach_the_apis(
    default_chart: Rendered, component: str, port: int
) -> None:
    network_policy = policy(default_chart, component)
    peers = allowed_peers(network_policy)
    reaching = {c for c, pod in pod_labels(default_chart).items() for peer in peers if selects(peer, pod)}
    # MLflow also admits the registry Job that makes its logins.
    assert reaching == {"prefect-worker"} | ({"mlflow-logins"} if component == "mlflow" else set())
    assert FLOW_RUNS in peers and len(peers) == len(reaching) + 1
    assert allowed_ports(network_policy) == [{"protocol": "TCP", "port": port}]
    for deployment in DEPLOYMENT_NAMES:  # the pods prefect-kubernetes' own code makes for each stage
        assert any(
            selects(peer, stage_job(deployment).manifest["spec"]["template"]["metadata"]["labels"])
            for peer in peers
        )


def test_should_let_the_environments_of_a_shared_registry_reach_its_mlflow_and_nothing_else(
    helm: str,
) -> None:
    chart = render(helm, ("infra/registry/values.yaml",), namespace="mlops-registry")
    peers = allowed_peers_anywhere(policy(chart, "mlflow"))
    # Its own registry Job, and the other namespaces' clients.
    own = [peer for peer in peers if "namespaceSelector" not in peer]
    assert own == [{"podSelector": {"matchLabels": LOGINS_JOB}}]
    peers = [peer for peer in peers if peer not in own]
    namespaces = {
        "key": "kubernetes.io/metadata.name",
        "operator": "In",
        "values": ["mlops-dev", "mlops-prod"],
    }
    assert all(peer["namespaceSelector"] == {"matchExpressions": [namespaces]} for peer in peers)
    pods = [peer["podSelector"] for peer in peers]
    assert {"matchExpressions": [{"key": "prefect.io/work-pool-name", "operator": "Exists"}]} in pods
    assert {
        "matchLabels": {
            "app.kubernetes.io/name": "mlops-platform",
            "app.kubernetes.io/component": "prefect-worker",
        }
    } in pods
    assert len(peers) == 2
    # No Prefect server there: nothing of the registry's own is a client.
    assert "prefect-server" not in {
        component_of(p["metadata"]["labels"]) for p in chart.of_kind("NetworkPolicy")
    }


def test_should_add_the_peers_the_values_name_to_the_prefect_api(helm: str) -> None:
    chart = render(helm, ("api-peers-values.yaml",))
    [ingress] = [
        p for p in allowed_peers_anywhere(policy(chart, "prefect-server")) if "namespaceSelector" in p
    ]
    assert ingress["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
    # This release's worker and flow runs still reach it, and MLflow, besides the other namespaces.
    for component in ("prefect-server", "mlflow"):
        assert FLOW_RUNS in [
            p["podSelector"].get("matchLabels") for p in allowed_peers_anywhere(policy(chart, component))
        ]


def test_should_admit_nobody_when_the_release_runs_no_client(helm: str) -> None:
    chart = render(helm, set_values={"worker.enabled": "false"})
    assert policy(chart, "prefect-server")["spec"]["ingress"] == []
    [only] = policy(chart, "mlflow")["spec"]["ingress"]  # the registry Job alone, which makes the logins
    assert only["from"] == [{"podSelector": {"matchLabels": LOGINS_JOB}}]
