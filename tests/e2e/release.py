"""The chart installed into the test cluster as an operator would: a server-side dry run, then for real."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from tests.charts.chart import CHART
from tests.e2e.clients import Helm, Kubectl

Json = dict[str, Any]
RELEASE = "mlops"  # the Makefile's default release and namespace (make deploy)
NAMESPACE = "mlops"


def documents(manifest: str) -> list[Json]:
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    dry_run_objects: list[Json]
    namespace_after_dry_run: bool
    objects: list[Json]

    def named(self, kind: str, component: str) -> str:
        """The name of the release's one `kind` object of `component` (app.kubernetes.io/component)."""
        names = [
            obj["metadata"]["name"]
            for obj in self.objects
            if obj["kind"] == kind and obj["metadata"]["labels"]["app.kubernetes.io/component"] == component
        ]
        assert len(names) == 1, f"{kind} of {component}: {names}"
        return names[0]

    def workloads(self) -> list[Json]:
        return [obj for obj in self.objects if obj["kind"] in ("Deployment", "StatefulSet")]


def install(helm: Helm, kubectl: Kubectl) -> Release:
    """`helm install` with the chart's defaults, after a server-side dry run of the same command.

    --no-hooks: the post-install hook is a Job that creates MinIO's buckets, and helm waits for hook Jobs
    to complete, and the e2e node runs only the node tests' pods (it is tainted). The tests check the
    hook Job against the API server separately.
    """
    command = ["install", RELEASE, str(CHART), f"--namespace={NAMESPACE}", "--create-namespace", "--no-hooks"]
    dry_run = helm(*command, "--dry-run=server", "--output=json")
    namespaces = kubectl.get("namespaces")["items"]
    namespace_exists = any(item["metadata"]["name"] == NAMESPACE for item in namespaces)
    helm(*command)
    manifest = helm("get", "manifest", RELEASE, f"--namespace={NAMESPACE}")
    return Release(
        RELEASE,
        NAMESPACE,
        documents(json.loads(dry_run)["manifest"]),
        namespace_exists,
        documents(manifest),
    )
