"""The chart with its default values, installed into a real API server (validation, admission, RBAC)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.charts.chart import CHART
from tests.e2e.clients import Helm, Kubectl
from tests.e2e.release import Release, documents
from tests.e2e.waits import wait_for_unschedulable_pods

Json = dict[str, Any]


def yaml_stream(objects: list[Json]) -> str:
    return yaml.safe_dump_all(objects)


def identity(obj: Json) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def test_should_pass_a_server_side_dry_run_without_creating_anything(release: Release) -> None:
    assert {identity(obj) for obj in release.dry_run_objects} == {identity(obj) for obj in release.objects}
    assert not release.namespace_after_dry_run


def test_should_create_every_object_of_the_release(release: Release, helm: Helm, kubectl: Kubectl) -> None:
    assert "STATUS: deployed" in helm("status", release.name, f"--namespace={release.namespace}")
    stored = kubectl.get(
        f"--namespace={release.namespace}", "--filename=-", stdin=yaml_stream(release.objects)
    )
    assert sorted(identity(obj) for obj in stored["items"]) == sorted(
        identity(obj) for obj in release.objects
    )
    for obj in stored["items"]:
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == release.name


def test_should_accept_the_post_install_hook_job(release: Release, helm: Helm, kubectl: Kubectl) -> None:
    hooks = documents(helm("get", "hooks", release.name, f"--namespace={release.namespace}"))
    assert hooks and {hook["kind"] for hook in hooks} == {"Job"}  # MinIO's bucket bootstrap
    # Server-side: the real schema, defaulting and admission chain, then nothing is stored.
    out = kubectl(
        "create",
        "--dry-run=server",
        f"--namespace={release.namespace}",
        "--filename=-",
        stdin=yaml_stream(hooks),
    )
    assert "created (server dry run)" in out


def test_should_keep_generated_credentials_across_an_upgrade(
    release: Release, helm: Helm, kubectl: Kubectl
) -> None:
    # The chart reads its own Secrets back with `lookup`, which only a real API server answers.
    secrets = {
        name: kubectl.get("secret", name, f"--namespace={release.namespace}")["data"]
        for name in (obj["metadata"]["name"] for obj in release.objects if obj["kind"] == "Secret")
    }
    assert secrets and all(secrets.values())
    helm("upgrade", release.name, str(CHART), f"--namespace={release.namespace}", "--no-hooks")
    for name, data in secrets.items():
        assert kubectl.get("secret", name, f"--namespace={release.namespace}")["data"] == data, name


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
def test_should_get_pods_from_the_controllers_that_wait_for_a_node(
    release: Release, kubectl: Kubectl, kind: str
) -> None:
    """Controllers create each workload's pods (so admission took the pod templates); the scheduler has no
    node to offer them yet."""
    workloads = [obj for obj in release.workloads() if obj["kind"] == kind]
    assert workloads
    for workload in workloads:
        selector = ",".join(f"{k}={v}" for k, v in workload["spec"]["selector"]["matchLabels"].items())
        pods = wait_for_unschedulable_pods(kubectl, release.namespace, selector)
        assert len(pods) == workload["spec"].get("replicas", 1), workload["metadata"]["name"]
