"""Should meet the Pod Security Standard "restricted" in every pod: the chart's workloads and hook Job, and
the Job the worker builds from infra/work-pool/kubernetes-job-template.json for every deployment."""

from __future__ import annotations

import copy

import pytest

from tests.charts.chart import Json, Rendered, pod_spec
from tests.charts.pod_security import restricted_violations
from tests.contract.test_stage_jobs import DEPLOYMENT_NAMES, stage_job


def test_should_meet_the_restricted_profile_in_every_workload_and_job(ci_chart: Rendered) -> None:
    assert ci_chart.workloads()
    for workload in ci_chart.workloads():
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        assert restricted_violations(pod_spec(workload)) == [], name


@pytest.mark.parametrize("deployment", DEPLOYMENT_NAMES)
def test_should_meet_the_restricted_profile_in_every_flow_run_job(deployment: str) -> None:
    assert restricted_violations(stage_job(deployment).pod_spec) == []


def restricted_pod() -> Json:
    return {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "app",
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }


BREAKS: dict[str, tuple[str, object, str]] = {
    "host network": ("hostNetwork", True, "hostNetwork: true"),
    "host PID": ("hostPID", True, "hostPID: true"),
    "host IPC": ("hostIPC", True, "hostIPC: true"),
    "host path": ("volumes", [{"name": "h", "hostPath": {"path": "/"}}], "volume h: type hostPath"),
    "privileged": ("containers.0.securityContext.privileged", True, "app: privileged: true"),
    "escalation": (
        "containers.0.securityContext.allowPrivilegeEscalation",
        True,
        "app: allowPrivilegeEscalation must be false",
    ),
    "root allowed": ("securityContext.runAsNonRoot", False, "app: runAsNonRoot must be true"),
    "root user": ("containers.0.securityContext.runAsUser", 0, "app: runAsUser: 0"),
    "unconfined seccomp": (
        "securityContext.seccompProfile",
        {"type": "Unconfined"},
        "app: seccompProfile must be RuntimeDefault or Localhost, got Unconfined",
    ),
    "capabilities kept": ("containers.0.securityContext.capabilities", {}, "app: capabilities must drop ALL"),
    "capability added": (
        "containers.0.securityContext.capabilities",
        {"drop": ["ALL"], "add": ["SYS_ADMIN"]},
        "app: capabilities added: SYS_ADMIN",
    ),
    "host port": ("containers.0.ports", [{"containerPort": 80, "hostPort": 80}], "app: hostPort set"),
}


def changed(path: str, value: object) -> Json:
    spec = restricted_pod()
    *parents, last = path.split(".")
    target: object = spec
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]  # type: ignore[index]
    target[last] = value  # type: ignore[index]
    return spec


@pytest.mark.parametrize(("path", "value", "violation"), BREAKS.values(), ids=BREAKS.keys())
def test_should_catch_each_rule_it_checks_so_the_checks_above_mean_something(
    path: str, value: object, violation: str
) -> None:
    assert restricted_violations(restricted_pod()) == []
    problems = restricted_violations(changed(path, value))
    assert any(problem.startswith(violation) for problem in problems), problems


def test_should_accept_the_rules_on_the_container_instead_of_the_pod() -> None:
    spec = copy.deepcopy(restricted_pod())
    del spec["securityContext"]
    spec["containers"][0]["securityContext"] |= {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"},
    }
    assert restricted_violations(spec) == []
