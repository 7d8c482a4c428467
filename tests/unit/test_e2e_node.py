"""The e2e node's pure parts: which names an imported image answers to, and the network it is given."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from tests.e2e.node import NODE_IP, POD_CIDR, SANDBOX_IMAGE, cni_config, local_aliases


@pytest.mark.parametrize(
    ("reference", "aliases"),
    [
        # What the chart's default `mlops-platform/flow-runner:0.1.0` means to the kubelet.
        ("localhost/mlops-platform/flow-runner:0.1.0", ["docker.io/mlops-platform/flow-runner:0.1.0"]),
        (SANDBOX_IMAGE, []),
        ("docker.io/library/postgres:17", []),
    ],
)
def test_local_aliases(reference: str, aliases: list[str]) -> None:
    assert local_aliases(reference) == aliases


def test_cni_config_makes_the_node_address_the_gateway_of_the_pod_range(tmp_path: Path) -> None:
    bridge = cni_config(tmp_path)["plugins"][0]  # type: ignore[index]
    (pool,) = bridge["ipam"]["ranges"][0]
    assert pool == {"subnet": POD_CIDR, "gateway": NODE_IP}
    assert ipaddress.ip_address(NODE_IP) in ipaddress.ip_network(POD_CIDR)
    assert bridge["ipam"]["dataDir"] == str(tmp_path / "ipam")  # leases stay with the run, not in /var/lib
    assert bridge["isGateway"] and not bridge["ipMasq"]  # no NAT rule: pods talk only on the bridge
