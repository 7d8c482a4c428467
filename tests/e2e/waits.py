"""Polling for what controllers do asynchronously, failing with what the cluster says when it never comes."""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.clients import Kubectl

Json = dict[str, Any]


def wait_for_object(kubectl: Kubectl, *args: str, timeout: float = 60) -> Json:
    """`kubectl get` until the object exists."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return kubectl.get(*args)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def unschedulable(pod: Json) -> bool:
    """The scheduler looked at the pod and found no node for it."""
    conditions = pod.get("status", {}).get("conditions", [])
    return any(
        c["type"] == "PodScheduled" and c["status"] == "False" and c.get("reason") == "Unschedulable"
        for c in conditions
    )


def wait_for_unschedulable_pods(
    kubectl: Kubectl, namespace: str, selector: str, timeout: float = 90
) -> list[Json]:
    """Until the pods of `selector` exist and the scheduler has marked every one unschedulable."""
    deadline = time.monotonic() + timeout
    while True:
        pods: list[Json] = kubectl.get("pods", f"--namespace={namespace}", f"--selector={selector}")["items"]
        if pods and all(unschedulable(pod) for pod in pods):
            return pods
        if time.monotonic() > deadline:
            events = kubectl("get", "events", f"--namespace={namespace}")
            raise AssertionError(f"pods of {selector} not created or not unschedulable: {pods}\n{events}")
        time.sleep(1)
