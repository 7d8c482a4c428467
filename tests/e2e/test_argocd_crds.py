"""Argo CD's CRDs (from `make argocd-crds`) install into the real API server, which then validates the
project's GitOps manifests (infra/gitops) against their schemas."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.clients import Kubectl
from tests.e2e.cluster import ROOT

GITOPS_MANIFESTS = sorted((ROOT / "infra" / "gitops").rglob("*.yaml"))
ARGOCD_NAMESPACE = "argocd"


@pytest.fixture(scope="module")
def argocd_crds(kubectl: Kubectl, argocd_crd_files: list[Path]) -> list[str]:
    # Server-side apply: the Application CRD is larger than client-side apply's annotation may be.
    for path in argocd_crd_files:
        kubectl("apply", "--server-side", f"--filename={path}")
    names = [kubectl.get(f"--filename={path}")["metadata"]["name"] for path in argocd_crd_files]
    for name in names:
        kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}")
    kubectl("create", "namespace", ARGOCD_NAMESPACE)
    return names


def test_should_establish_the_application_and_appproject_crds(
    argocd_crds: list[str], kubectl: Kubectl
) -> None:
    assert set(argocd_crds) == {"applications.argoproj.io", "appprojects.argoproj.io"}
    resources = kubectl("api-resources", "--api-group=argoproj.io", "--output=name").split()
    # Discovery lags the Established condition by a moment.
    deadline = time.monotonic() + 30
    while set(resources) != set(argocd_crds) and time.monotonic() < deadline:
        time.sleep(0.5)
        resources = kubectl("api-resources", "--api-group=argoproj.io", "--output=name").split()
    assert set(resources) == set(argocd_crds)


@pytest.mark.parametrize("manifest", GITOPS_MANIFESTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_should_accept_the_gitops_manifest(argocd_crds: list[str], kubectl: Kubectl, manifest: Path) -> None:
    out = kubectl("create", "--dry-run=server", f"--filename={manifest}")
    assert "created (server dry run)" in out


def test_should_refuse_an_application_that_breaks_the_schema(
    argocd_crds: list[str], kubectl: Kubectl
) -> None:
    """The schema is enforced, so the acceptance above means something."""
    bad = (
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
        f"metadata: {{name: bad, namespace: {ARGOCD_NAMESPACE}}}\n"
        "spec: {project: default, destination: {server: https://kubernetes.default.svc}, source: 42}\n"
    )
    result = kubectl.attempt("create", "--dry-run=server", "--filename=-", stdin=bad)
    assert result.returncode != 0 and "spec.source" in result.stderr
