"""The chart's RBAC as the API server enforces it: the worker may run Jobs and nothing more; flow runs get
nothing at all. Asked with `kubectl auth can-i --as=system:serviceaccount:...` and by real requests."""

from __future__ import annotations

import pytest

from tests.e2e.clients import Kubectl
from tests.e2e.release import Release

# What prefect-kubernetes' worker and its observer need in the Jobs' namespace (rbac.yaml says why).
WORKER_MAY = [
    ("create", "jobs.batch"),
    ("get", "jobs.batch"),
    ("list", "jobs.batch"),
    ("watch", "jobs.batch"),
    ("delete", "jobs.batch"),
    ("get", "pods"),
    ("list", "pods"),
    ("watch", "pods"),
    ("get", "pods/log"),
    ("create", "events"),
]
WORKER_MAY_NOT = [
    ("get", "secrets"),
    ("list", "secrets"),
    ("watch", "secrets"),
    ("update", "jobs.batch"),
    ("patch", "jobs.batch"),
    ("create", "pods"),
    ("create", "pods/exec"),
    ("delete", "pods"),
    ("get", "configmaps"),
    ("create", "roles.rbac.authorization.k8s.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("create", "serviceaccounts/token"),
]


def service_account(release: Release, component: str) -> str:
    return f"system:serviceaccount:{release.namespace}:{release.named('ServiceAccount', component)}"


@pytest.mark.parametrize(("verb", "resource"), WORKER_MAY)
def test_worker_may(release: Release, kubectl: Kubectl, verb: str, resource: str) -> None:
    worker = service_account(release, "prefect-worker")
    assert kubectl.can_i(verb, resource, user=worker, namespace=release.namespace)


@pytest.mark.parametrize(("verb", "resource"), WORKER_MAY_NOT)
def test_worker_may_not(release: Release, kubectl: Kubectl, verb: str, resource: str) -> None:
    worker = service_account(release, "prefect-worker")
    assert not kubectl.can_i(verb, resource, user=worker, namespace=release.namespace)


@pytest.mark.parametrize("namespace", ["default", "kube-system"])
def test_worker_may_not_create_jobs_outside_the_release_namespace(
    release: Release, kubectl: Kubectl, namespace: str
) -> None:
    worker = service_account(release, "prefect-worker")
    assert not kubectl.can_i("create", "jobs.batch", user=worker, namespace=namespace)


@pytest.mark.parametrize(
    ("verb", "resource"),
    [("get", "secrets"), ("list", "pods"), ("create", "jobs.batch"), ("get", "jobs.batch")],
)
def test_flow_run_pods_may_do_nothing(release: Release, kubectl: Kubectl, verb: str, resource: str) -> None:
    flow_runner = service_account(release, "flow-run")
    assert not kubectl.can_i(verb, resource, user=flow_runner, namespace=release.namespace)


def test_worker_creating_a_job_is_admitted_and_reading_a_secret_is_forbidden(
    release: Release, kubectl: Kubectl
) -> None:
    """Real requests as the worker, not only the authorizer's opinion."""
    worker = service_account(release, "prefect-worker")
    namespace = f"--namespace={release.namespace}"
    created = kubectl(
        "create",
        "job",
        "e2e-rbac-probe",
        "--image=mlops-platform/flow-runner:0.1.0",
        "--dry-run=server",
        namespace,
        f"--as={worker}",
    )
    assert "created (server dry run)" in created
    secret = "mlops-s3-credentials"  # the flow runs' S3 identity (the pool template's s3_secret_name)
    denied = kubectl.attempt("get", "secret", secret, namespace, f"--as={worker}")
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr and 'cannot get resource "secrets"' in denied.stderr
