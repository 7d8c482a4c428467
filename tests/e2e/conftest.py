"""One real cluster for the whole session, started before the first test and stopped after the last: the
control plane, and a node once a test asks for one (`node`).

Their state (certificates, kubeconfigs, etcd data, containerd's) and logs live in $MLOPS_E2E_DIR/cluster
and $MLOPS_E2E_DIR/node (default .mlops/e2e/...); they are replaced at the next run, so the last run's
logs stay for reading. When the node can run here (root, its binaries and images present) the API server
listens on the node's bridge, which pods reach; else on loopback, and node tests skip (fail in `make e2e`).
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
from tests.e2e.cluster import LOOPBACK, ROOT, Binaries, ControlPlane
from tests.e2e.node import NODE_IP, Node, NodeBinaries, create_bridge, sweep
from tests.e2e.processes import reap_leftovers
from tests.e2e.release import Release, install

E2E_DIR = Path(os.environ.get("MLOPS_E2E_DIR", ROOT / ".mlops" / "e2e"))
# Set by `make e2e`: there, a missing binary is a failure, not a reason to skip.
REQUIRED = os.environ.get("MLOPS_E2E") == "1"
NODE_DIR = E2E_DIR / "node"
TIMINGS: dict[str, float] = {}


def node_missing(binaries: Binaries) -> list[str]:
    missing = NodeBinaries.find(binaries).missing()
    return missing if os.geteuid() == 0 else [*missing, "root (the node makes a bridge, mounts, cgroups)"]


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
    sweep(NODE_DIR)
    shutil.rmtree(directory, ignore_errors=True)
    shutil.rmtree(NODE_DIR, ignore_errors=True)
    address = LOOPBACK
    if not node_missing(binaries):
        create_bridge(NODE_DIR)
        address = NODE_IP
    plane = ControlPlane(binaries, directory, address)
    E2E_DIR.mkdir(parents=True, exist_ok=True)
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()
        sweep(NODE_DIR)
        TIMINGS.update(plane.timings)
        (E2E_DIR / "timings.json").write_text(json.dumps(TIMINGS, indent=2))


@pytest.fixture(scope="session")
def kubectl(control_plane: ControlPlane) -> Kubectl:
    return Kubectl(control_plane.binaries.path("kubectl"), control_plane.admin_kubeconfig)


@pytest.fixture(scope="session")
def node(control_plane: ControlPlane, kubectl: Kubectl) -> Iterator[Node]:
    """containerd, kubelet, kube-proxy and CoreDNS on the bridge; tainted, so only pods that tolerate
    NODE_TAINT run on it. Stopped (its pods first) before the control plane."""
    if missing := node_missing(control_plane.binaries):
        unavailable(f"the node needs {', '.join(missing)}: run `make e2e` as root (it builds them)")
    node = Node(NodeBinaries.find(control_plane.binaries), control_plane, NODE_DIR)
    try:
        node.start(kubectl)
        yield node
    finally:
        node.stop(kubectl)
        TIMINGS.update(node.timings)


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
        terminalreporter.section("cluster bring-up (seconds)")
        for phase, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{phase:<26}{seconds:7.1f}")
