"""One real control plane for the whole session, started before the first test and stopped after the last.

Its state (certificates, kubeconfigs, etcd data) and logs live in $MLOPS_E2E_DIR/cluster (default
.mlops/e2e/cluster); they are replaced at the next run, so the last run's logs stay for reading.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.charts.chart import find_helm
from tests.e2e.clients import Helm, Kubectl
from tests.e2e.cluster import ROOT, Binaries, ControlPlane
from tests.e2e.processes import reap_leftovers
from tests.e2e.release import Release, install

E2E_DIR = Path(os.environ.get("MLOPS_E2E_DIR", ROOT / ".mlops" / "e2e"))
# Set by `make e2e`: there, a missing binary is a failure, not a reason to skip.
REQUIRED = os.environ.get("MLOPS_E2E") == "1"
TIMINGS: dict[str, float] = {}


def unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    binaries = Binaries.find()
    if missing := binaries.missing():
        unavailable(f"missing {', '.join(missing)}: run `make e2e` (it builds them)")
    directory = E2E_DIR / "cluster"
    if stale := reap_leftovers(directory / "logs"):
        print(f"stopped processes an interrupted run left behind: {stale}")
    shutil.rmtree(directory, ignore_errors=True)
    plane = ControlPlane(binaries, directory)
    E2E_DIR.mkdir(parents=True, exist_ok=True)
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()
        TIMINGS.update(plane.timings)
        (E2E_DIR / "timings.json").write_text(json.dumps(plane.timings, indent=2))


@pytest.fixture(scope="session")
def kubectl(control_plane: ControlPlane) -> Kubectl:
    return Kubectl(control_plane.binaries.path("kubectl"), control_plane.admin_kubeconfig)


@pytest.fixture(scope="session")
def helm(control_plane: ControlPlane) -> Helm:
    binary = find_helm()
    if binary is None:
        unavailable("helm not found ($HELM, PATH or bin/helm): run `make tools`")
    assert binary is not None
    return Helm(binary, control_plane.admin_kubeconfig)


@pytest.fixture(scope="session")
def argocd_crd_files() -> list[Path]:
    """Argo CD's CRDs as `make argocd-crds` copies them (or from $MLOPS_ARGOCD_CRDS)."""
    directory = Path(os.environ.get("MLOPS_ARGOCD_CRDS", ROOT / "bin" / "argocd-crds"))
    files = sorted(directory.glob("*.yaml"))
    if not files:
        unavailable(f"no Argo CD CRDs in {directory}: run `make argocd-crds`")
    return files


@pytest.fixture(scope="session")
def release(helm: Helm, kubectl: Kubectl) -> Release:
    """The chart with its default values, installed once for the session's tests."""
    return install(helm, kubectl)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("control plane bring-up (seconds)")
        for phase, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{phase:<26}{seconds:7.1f}")
