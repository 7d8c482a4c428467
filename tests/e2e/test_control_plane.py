"""The control plane itself: the pinned release, its controllers at work, and its authorizers."""

from __future__ import annotations

import json
import uuid

from tests.e2e.clients import Kubectl
from tests.e2e.cluster import ControlPlane, kubernetes_version, pinned_version
from tests.e2e.waits import wait_for_object


def test_should_report_the_release_pinned_in_hack_k8s(control_plane: ControlPlane, kubectl: Kubectl) -> None:
    assert control_plane.version()["gitVersion"] == kubernetes_version()
    versions = json.loads(kubectl("version", "--output=json"))
    assert versions["clientVersion"]["gitVersion"] == kubernetes_version()
    assert versions["serverVersion"]["gitVersion"] == kubernetes_version()


def test_should_store_in_the_etcd_release_pinned_in_hack_etcd(control_plane: ControlPlane) -> None:
    assert f"v{control_plane.etcd_version()['etcdserver']}" == pinned_version(
        "etcd", "go.etcd.io/etcd/server/v3"
    )


def test_should_give_a_new_namespace_its_default_service_account_and_root_ca(kubectl: Kubectl) -> None:
    namespace = f"e2e-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", namespace)
    try:
        # Made by kube-controller-manager's serviceaccount and root-ca-cert-publisher controllers.
        wait_for_object(kubectl, "serviceaccount", "default", f"--namespace={namespace}")
        ca = wait_for_object(kubectl, "configmap", "kube-root-ca.crt", f"--namespace={namespace}")
        assert "BEGIN CERTIFICATE" in str(ca["data"])
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")


def test_should_authorize_kubelets_through_the_node_authorizer(kubectl: Kubectl) -> None:
    # RBAC grants kubelets nothing on nodes; the Node authorizer lets each one read its own Node only.
    node, kubelet, nodes_group = "e2e", "system:node:e2e", ("system:nodes",)
    assert kubectl.can_i("get", "nodes", name=node, user=kubelet, groups=nodes_group)
    assert not kubectl.can_i("get", "nodes", name="another-node", user=kubelet, groups=nodes_group)
    assert not kubectl.can_i("get", "nodes", name=node, user=kubelet)  # not in system:nodes
    # ...and a Secret only when a pod bound to its node uses it.
    assert not kubectl.can_i("get", "secrets", name="any", user=kubelet, groups=nodes_group)
