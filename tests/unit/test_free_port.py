"""Service ports for the tests: outside the kernel's ephemeral range, never handed out twice."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from devenv import services
from devenv.services import NODE_PORTS, Ports, ephemeral_range, free_port, port_candidates, port_share


def test_candidates_avoid_the_ephemeral_range_and_node_ports() -> None:
    candidates = set(port_candidates((32768, 60999)))
    assert candidates
    assert not candidates & set(range(32768, 61000)), "a client's source port could take it"
    assert not candidates & set(NODE_PORTS)
    assert 61000 in candidates and 29999 in candidates


def test_the_ephemeral_range_is_read_from_the_kernel_file(tmp_path: Path) -> None:
    path = tmp_path / "ip_local_port_range"
    path.write_text("20000\t40000\n")
    assert ephemeral_range(path) == (20000, 40000)
    assert ephemeral_range(tmp_path / "missing") == (32768, 60999)


def test_free_ports_are_distinct_outside_the_ephemeral_range_and_bindable() -> None:
    low, high = ephemeral_range()
    ports = Ports.free()
    handed = [*vars(ports).values(), *(free_port() for _ in range(20))]
    assert len(set(handed)) == len(handed)
    assert all(not low <= p <= high for p in handed)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", handed[-1]))


def test_a_port_in_use_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener, socket.socket() as probe:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        probe.bind(("127.0.0.1", 0))
        taken, other = listener.getsockname()[1], probe.getsockname()[1]
        probe.close()
        monkeypatch.setattr(services, "port_candidates", lambda _: [taken, other])
        monkeypatch.setattr(services, "port_share", lambda: (0, 1))  # whether or not under pytest-xdist
        assert free_port() == other
        with pytest.raises(RuntimeError, match="no free port"):
            free_port()  # `other` is handed out already, `taken` is in use


def test_parallel_test_workers_take_disjoint_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    assert port_share({}) == (0, 1)
    assert port_share({"PYTEST_XDIST_WORKER": "master", "PYTEST_XDIST_WORKER_COUNT": "3"}) == (0, 1)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    for index in (0, 1):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{index}")
        assert port_share() == (index, 2)
        assert {free_port() % 2 for _ in range(10)} == {index}
