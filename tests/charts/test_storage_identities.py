"""Should give every S3 client its own MinIO identity: MinIO and the bucket Job alone hold the root; MLflow,
the worker and the flow runs each a user whose policy names exactly its buckets; with an external S3 store,
the credentials the user provides."""

from __future__ import annotations

import base64

from flows.logic.storage_access import access_key
from tests.charts.chart import Rendered, containers, render

ROOT = "mlops-platform-minio-root"
SECRETS = {
    "flow-runs": "mlops-s3-credentials",
    "operator": "mlops-platform-s3-operator",
    "mlflow": "mlops-platform-s3-mlflow",
}
# The workload (by component) of each client, and the identity its S3 credentials must be.
CLIENTS = {"mlflow": "mlflow", "prefect-worker": "operator"}


def secret_refs(chart: Rendered, component: str) -> set[str]:
    """The Secrets a component's containers read S3 credentials (or MinIO's root) from."""
    [workload] = [
        w for w in chart.workloads() if w["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    return {
        env["valueFrom"]["secretKeyRef"]["name"]
        for container in containers(workload)
        for env in container.get("env", [])
        if env["name"].startswith(("AWS_", "MINIO_ROOT_")) and "valueFrom" in env
    }


def test_should_make_one_kept_secret_per_identity_named_as_the_bucket_job_names_the_user(
    default_chart: Rendered,
) -> None:
    for role, name in SECRETS.items():
        secret = default_chart.get("Secret", name)
        assert base64.b64decode(secret["data"]["AWS_ACCESS_KEY_ID"]).decode() == access_key(role)
        assert len(base64.b64decode(secret["data"]["AWS_SECRET_ACCESS_KEY"])) == 40
        assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    keys = {
        default_chart.get("Secret", name)["data"]["AWS_SECRET_ACCESS_KEY"]
        for name in [*SECRETS.values(), ROOT]
    }
    assert len(keys) == 4  # four different secrets


def test_should_hand_each_client_its_own_identity_and_the_root_to_minio_and_the_bucket_job_only(
    default_chart: Rendered,
) -> None:
    for component, role in CLIENTS.items():
        assert secret_refs(default_chart, component) == {SECRETS[role]}, component
    assert secret_refs(default_chart, "minio") == {ROOT}
    job_env = {
        e["name"]: e
        for c in containers(default_chart.get("Job", "mlops-platform-minio-buckets"))
        for e in c["env"]
    }
    assert job_env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == ROOT
    readers_of_root = {
        w["metadata"]["name"]
        for w in [*default_chart.workloads(), *default_chart.of_kind("Job")]
        if ROOT in str(w["spec"])
    }
    assert readers_of_root == {"mlops-platform-minio", "mlops-platform-minio-buckets"}


def test_should_make_only_the_identities_of_the_clients_a_release_runs(helm: str) -> None:
    registry = render(helm, ("infra/registry/values.yaml",), namespace="mlops-registry")
    assert registry.names("Secret") >= {ROOT, "mlops-platform-s3-mlflow"}
    assert not registry.names("Secret") & {"mlops-s3-credentials", "mlops-platform-s3-operator"}
    job = registry.get("Job", "mlops-platform-minio-buckets")
    names = {e["name"] for c in containers(job) for e in c["env"]}
    assert "S3_IDENTITY_MLFLOW_SECRET" in names and "S3_IDENTITY_FLOW_RUNS_SECRET" not in names
    assert "LANDING_BUCKET" not in names


def test_should_use_the_users_own_credentials_for_every_client_of_an_external_store(helm: str) -> None:
    chart = render(helm, ("external-s3-values.yaml",))
    assert not chart.names("Secret") & {ROOT, *SECRETS.values()}
    for component in CLIENTS:
        assert secret_refs(chart, component) == {"mlops-s3-credentials"}
